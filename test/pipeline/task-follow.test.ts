import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { TaskStore } from '../../src/store/task-store.js';
import { ProposalStore } from '../../src/store/proposal-store.js';
import { makeProposal, type Proposal } from '../../src/agent/proposal.js';
import { createTaskWorktree, removeTaskWorktree } from '../../src/agent/worktree.js';
import { ApprovalError, ApprovalQueue, proposalActions, type DecisionReport, type QueuedProposal } from '../../src/pipeline/approvals.js';
import { resolveRef, MIN_PREFIX } from '../../src/pipeline/approval-ids.js';
import { applyProposalChecked, undoProposalAudited } from '../../src/pipeline/proposal-decisions.js';
import { followAll } from '../../src/pipeline/task-follow.js';
import { canMove, isFinal } from '../../src/store/task-states.js';
import { AuditLog } from '../../src/policy/audit.js';
import { decisionLogText } from '../../src/report/decision-text.js';
import { makeRepoFrom, type TestRepo } from '../support/git-repo.js';

/**
 * Tasks follow their proposal (issue 12): the real queue on a real SQLite file, real proposals
 * made from a real git worktree, real task rows moved by the real state machine.
 */

interface Fixture {
  repo: TestRepo;
  home: string;
  db: Db;
  tasks: TaskStore;
  queue: ApprovalQueue;
  reports: DecisionReport[];
  clock: { now: Date };
}

function fixture(): Fixture {
  // The same commit starts every fixture: made once per process, copied per test.
  const repo = makeRepoFrom('task-follow', (r) => void r.commit('code', { 'src/add.js': 'export const add = (a, b) => a - b;\n' }));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-follow-'));
  const db = openDb(path.join(home, 'kairos.db'));
  const reports: DecisionReport[] = [];
  const clock = { now: new Date() };
  const queue = new ApprovalQueue(db, { ...proposalActions({ db, home }), now: () => clock.now, onDecided: (r) => reports.push(r) });
  return { repo, home, db, tasks: new TaskStore(db), queue, reports, clock };
}

/** An agent task that ran and proposed `content` for src/add.js, as the runner leaves it: state 'proposed'. */
async function proposedTask(f: Fixture, content: string): Promise<{ taskId: number; proposal: Proposal }> {
  const at = new Date().toISOString();
  const taskId = f.tasks.createFollowUp({ repo: f.repo.dir, trigger: 'fix', kind: 'agent', batchId: null, at, data: {} });
  f.tasks.move(taskId, 'queued', 'running', at);
  const wt = await createTaskWorktree({ repo: f.repo.dir, taskId: String(taskId), home: f.home, includeUncommitted: false });
  fs.writeFileSync(path.join(wt.dir, 'src/add.js'), content);
  const proposal = await makeProposal({ db: f.db, repo: f.repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: String(taskId), summary: `set add.js to ${content.trim()}`, costMicros: 1 });
  await removeTaskWorktree({ repo: f.repo.dir, taskId: String(taskId), home: f.home });
  f.tasks.move(taskId, 'running', 'proposed', at, { reason: 'proposed' });
  return { taskId, proposal };
}

function queue(f: Fixture, p: { taskId: number; proposal: Proposal }, ttlMs?: number): QueuedProposal {
  return f.queue.enqueueProposal({ proposal: p.proposal, trigger: 'fix', taskId: p.taskId, ...(ttlMs ? { ttlMs } : {}) });
}

function transitions(f: Fixture, taskId: number): string[] {
  return (f.db.prepare('SELECT from_state, to_state, reason FROM task_transitions WHERE task_id = ? ORDER BY rowid').all(taskId) as { from_state: string | null; to_state: string; reason: string | null }[]).map(
    (r) => `${r.from_state ?? '∅'}→${r.to_state}${r.reason ? `: ${r.reason}` : ''}`,
  );
}

describe('task states follow the proposal', () => {
  let f: Fixture;
  before(() => {
    f = fixture();
  });
  after(() => {
    f.db.close();
    f.repo.cleanup();
    fs.rmSync(f.home, { recursive: true, force: true });
  });

  test('the state machine: proposed → applied ⇄ undone; proposed → denied | expired | failed; applied/undone count as final for retention', () => {
    for (const to of ['applied', 'denied', 'expired', 'failed'] as const) assert.ok(canMove('proposed', to), to);
    assert.ok(canMove('applied', 'undone'));
    assert.ok(canMove('undone', 'applied'));
    assert.ok(!canMove('denied', 'applied'));
    assert.ok(!canMove('applied', 'denied'));
    assert.ok(!canMove('expired', 'applied'));
    assert.ok(isFinal('applied') && isFinal('undone') && isFinal('denied'));
    assert.ok(!isFinal('proposed'));
  });

  test('approve → applied (with who and the undo command); undo → undone; apply again → applied; each move logged and reported', async () => {
    const t = await proposedTask(f, 'export const add = (a, b) => a + b;');
    const q = queue(f, t);
    assert.equal(q.collapsed, false);
    assert.equal(q.approval.id, t.proposal.id, 'one id: the approval takes the proposal id');
    await f.queue.approve(q.approval.id, { channel: 'tray' });
    assert.equal(f.tasks.get(t.taskId)!.state, 'applied');
    assert.match(f.tasks.get(t.taskId)!.reason!, new RegExp(`approved via tray: 1 file\\(s\\) applied; undo: kairos undo ${q.approval.id}`));
    const approve = f.reports.at(-1)!;
    assert.equal(approve.kind, 'approve');
    assert.equal(approve.by, 'tray');
    assert.deepEqual(approve.taskIds, [t.taskId]);
    assert.deepEqual(approve.files, ['src/add.js']);

    await undoProposalAudited(f.queue, { proposalId: t.proposal.id, repo: f.repo.dir, force: false, channel: 'cli' });
    assert.equal(f.tasks.get(t.taskId)!.state, 'undone');
    assert.equal(f.reports.at(-1)!.kind, 'undo');
    assert.equal(f.reports.at(-1)!.id, q.approval.id);
    await applyProposalChecked(f.queue, { proposalId: t.proposal.id, hash: t.proposal.hash, repo: f.repo.dir, channel: 'cli' });
    assert.equal(f.tasks.get(t.taskId)!.state, 'applied');
    assert.equal(f.reports.at(-1)!.kind, 'apply');
    assert.deepEqual(
      transitions(f, t.taskId).map((x) => x.split(':')[0]),
      ['∅→queued', 'queued→running', 'running→proposed', 'proposed→applied', 'applied→undone', 'undone→applied'],
    );
    // The undo and the re-apply are audited as before.
    const what = new AuditLog(f.db).recent({ taskId: t.taskId }).map((r) => r.what);
    assert.ok(what.some((w) => w === `undo proposal ${t.proposal.id}`));
    await undoProposalAudited(f.queue, { proposalId: t.proposal.id, repo: f.repo.dir, force: false, channel: 'cli' });
  });

  test('deny → denied with the reason; expiry → expired, decided by the clock; a failed apply → failed', async () => {
    const d = await proposedTask(f, 'deny me');
    const dq = queue(f, d);
    await f.queue.deny(dq.approval.id, { channel: 'notification', reason: 'no thanks' });
    assert.equal(f.tasks.get(d.taskId)!.state, 'denied');
    assert.match(f.tasks.get(d.taskId)!.reason!, /denied via notification: no thanks/);
    assert.deepEqual([f.reports.at(-1)!.kind, f.reports.at(-1)!.by, f.reports.at(-1)!.reason], ['deny', 'notification', 'no thanks']);

    const e = await proposedTask(f, 'expire me');
    const eq = queue(f, e, 60_000);
    f.clock.now = new Date(f.clock.now.getTime() + 61_000);
    try {
      const expired = await f.queue.expireDue();
      assert.deepEqual(expired.map((x) => x.approval.id), [eq.approval.id]);
    } finally {
      f.clock.now = new Date();
    }
    assert.equal(f.tasks.get(e.taskId)!.state, 'expired');
    assert.deepEqual([f.reports.at(-1)!.kind, f.reports.at(-1)!.by], ['expire', 'expiry']);

    const x = await proposedTask(f, 'conflicts');
    const xq = queue(f, x);
    f.repo.write('src/add.js', 'the user edited this meanwhile\n');
    await assert.rejects(f.queue.approve(xq.approval.id, { channel: 'cli' }), (err: ApprovalError) => err.code === 'apply_failed');
    assert.equal(f.tasks.get(x.taskId)!.state, 'failed');
    assert.match(f.tasks.get(x.taskId)!.reason!, /approved via cli, but applying it failed/);
    assert.equal(f.reports.at(-1)!.kind, 'fail');
    f.repo.git('checkout', '-q', '--', '.');
  });

  test('an identical proposal while one waits: no second approval, no tokens; the new proposal is discarded, its task follows the waiting approval', async () => {
    const a = await proposedTask(f, 'same fix');
    const b = await proposedTask(f, 'same fix');
    assert.equal(a.proposal.hash, b.proposal.hash);
    const qa = queue(f, a);
    const qb = queue(f, b);
    assert.equal(qb.collapsed, true);
    assert.equal(qb.tokens, null);
    assert.equal(qb.approval.id, qa.approval.id);
    assert.deepEqual(f.queue.pending().filter((p) => p.hash === a.proposal.hash).map((p) => p.id), [qa.approval.id]);
    assert.equal(new ProposalStore(f.db).get(b.proposal.id)!.state, 'discarded');
    const collapse = f.reports.at(-1)!;
    assert.equal(collapse.kind, 'collapse');
    assert.match(decisionLogText(collapse), new RegExp(`task ${b.taskId} proposed the same diff .*same diff as ${qa.approval.id}, which already waits`));
    assert.ok(new AuditLog(f.db).recent().some((r) => r.what === `collapse approval ${qa.approval.id} (proposal ${a.proposal.id}) via daemon` && r.origin === 'daemon'));

    await f.queue.approve(qa.approval.id, { channel: 'cli' });
    assert.equal(f.tasks.get(a.taskId)!.state, 'applied');
    assert.equal(f.tasks.get(b.taskId)!.state, 'applied');
    assert.deepEqual(f.reports.at(-1)!.taskIds, [a.taskId, b.taskId]);
    // Once decided, the same diff again is a new approval (nothing waits to collapse into).
    await undoProposalAudited(f.queue, { proposalId: a.proposal.id, repo: f.repo.dir, force: false, channel: 'cli' });
    const c = await proposedTask(f, 'same fix');
    const qc = queue(f, c);
    assert.equal(qc.collapsed, false);
    await f.queue.deny(qc.approval.id, { channel: 'cli' });
  });

  test('a task still running when its approval was decided catches up (followAll, as at start)', async () => {
    const t = await proposedTask(f, 'fast click');
    // As if the runner had not yet recorded 'proposed': the decision finds the task running.
    f.db.prepare("UPDATE tasks SET state = 'running' WHERE id = ?").run(t.taskId);
    const q = queue(f, t);
    await f.queue.deny(q.approval.id, { channel: 'tray' });
    assert.equal(f.tasks.get(t.taskId)!.state, 'running', 'a running task is not moved by a decision');
    f.tasks.move(t.taskId, 'running', 'proposed', new Date().toISOString());
    const moved = f.db.transaction(() => followAll(f.db, new Date().toISOString(), 'caught up'))();
    assert.deepEqual(moved, [{ taskId: t.taskId, from: 'proposed', to: 'denied' }]);
    assert.equal(f.tasks.get(t.taskId)!.state, 'denied');
    assert.deepEqual(f.db.transaction(() => followAll(f.db, new Date().toISOString(), 'again'))(), [], 'following is idempotent');
  });
});

describe('one id per proposal: every command resolves approval ids, proposal ids and prefixes', () => {
  let f: Fixture;
  before(() => {
    f = fixture();
  });
  after(() => {
    f.db.close();
    f.repo.cleanup();
    fs.rmSync(f.home, { recursive: true, force: true });
  });

  test('exact ids, upper case, unique prefixes; ambiguous and too-short prefixes refused with what to do', async () => {
    const t = await proposedTask(f, 'ids');
    const q = queue(f, t);
    const id = q.approval.id;
    assert.equal(resolveRef(f.db, id).approval!.id, id);
    assert.equal(resolveRef(f.db, ` ${id.toUpperCase()} `).proposal!.id, t.proposal.id);
    assert.equal(resolveRef(f.db, id.slice(0, MIN_PREFIX)).approval!.id, id);
    assert.throws(() => resolveRef(f.db, id.slice(0, MIN_PREFIX - 1)), (e: ApprovalError) => e.code === 'not_found' && /at least 4 characters/.test(e.message));
    assert.throws(() => resolveRef(f.db, 'zzzzzzzz'), (e: ApprovalError) => e.code === 'not_found' && /kairos pending/.test(e.message));
    assert.throws(() => resolveRef(f.db, "a%'; --"), (e: ApprovalError) => e.code === 'not_found');
    // An old store: an approval whose id differs from its proposal's. Both ids, and their prefixes, name it.
    f.db.prepare('INSERT INTO proposals SELECT ?, task_id, repo, base, diff, hash, summary, files, cost_micros, state, created_at, applied_at, undone_at, undo FROM proposals WHERE id = ?').run('wxyz2345', t.proposal.id);
    f.db.prepare("INSERT INTO approvals (id, kind, proposal_id, hash, summary, files, repo, created_at, expires_at, state) VALUES ('wxyq7777', 'proposal', 'wxyz2345', 'h', 's', '[]', ?, '2030', '2031', 'denied')").run(f.repo.dir);
    assert.equal(resolveRef(f.db, 'wxyz2345').approval!.id, 'wxyq7777');
    assert.equal(resolveRef(f.db, 'wxyq').proposal!.id, 'wxyz2345');
    assert.throws(() => resolveRef(f.db, 'wxy'), /at least 4 characters/, 'too short: not resolved');
    // Two different things under one prefix: ambiguous, with the candidates named.
    f.db.prepare("INSERT INTO approvals (id, kind, hash, summary, files, repo, created_at, expires_at, state) VALUES ('wxyq8888', 'command', NULL, 's', '[]', ?, '2030', '2031', 'denied')").run(f.repo.dir);
    assert.throws(() => resolveRef(f.db, 'wxyq'), (e: ApprovalError) => e.code === 'ambiguous' && /wxyq8888/.test(e.message) && /wxyz2345/.test(e.message));
    // The queue takes any of them.
    assert.equal(f.queue.get(id.slice(0, 5))!.id, id);
    await f.queue.deny(id.slice(0, 6), { channel: 'cli' });
    assert.equal(f.queue.get(id)!.state, 'denied');
  });
});
