import { describe, test, before, after } from 'node:test';
import { AuditLog } from '../../src/policy/audit.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { ProposalStore } from '../../src/store/proposal-store.js';
import { makeProposal, type Proposal } from '../../src/agent/proposal.js';
import { createTaskWorktree, removeTaskWorktree } from '../../src/agent/worktree.js';
import { ApprovalError, ApprovalQueue, isPaused, proposalActions, setPaused, tokenHash, type Approval, type QueuedProposal } from '../../src/pipeline/approvals.js';
import { makeRepoFrom, type TestRepo } from '../support/git-repo.js';
import { treeHash } from '../support/tree-hash.js';
import { nodeArgsFor } from '../support/paths.js';

const WORKER = process.env.KAIROS_APPROVAL_RACE_WORKER === '1';

/**
 * Worker mode (a second process for the race test): opens the store, waits for the go file, then
 * approves and prints what happened as one JSON line.
 */
async function raceWorker(): Promise<void> {
  const [dbFile, home, id, readyFile, goFile] = JSON.parse(process.env.KAIROS_APPROVAL_RACE_ARGS!) as string[];
  const db = openDb(dbFile!);
  const queue = new ApprovalQueue(db, proposalActions({ db, home: home! }));
  fs.writeFileSync(readyFile!, 'ready');
  while (!fs.existsSync(goFile!)) await new Promise((r) => setTimeout(r, 2));
  try {
    const r = await queue.approve(id!, { channel: 'cli' });
    process.stdout.write(JSON.stringify({ ok: true, files: r.files }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, code: (e as ApprovalError).code, message: (e as Error).message }) + '\n');
  }
  db.close();
}

const HOUR = 60 * 60 * 1000;

interface Fixture {
  repo: TestRepo;
  home: string;
  dbFile: string;
  db: Db;
  queue: ApprovalQueue;
  /** The fake clock the queue reads. */
  clock: { now: Date };
  cleanup(): void;
}

function fixture(): Fixture {
  // The same commit starts every fixture: made once per process, copied per test.
  const repo = makeRepoFrom('approvals', (r) => void r.commit('code', { 'src/add.js': 'export const add = (a, b) => a - b;\n', 'src/keep.txt': 'keep\n' }));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-approvals-'));
  const dbFile = path.join(home, 'kairos.db');
  const db = openDb(dbFile);
  const clock = { now: new Date('2030-01-01T10:00:00.000Z') };
  const queue = new ApprovalQueue(db, { ...proposalActions({ db, home }), now: () => clock.now });
  return {
    repo,
    home,
    dbFile,
    db,
    queue,
    clock,
    cleanup: () => {
      db.close();
      repo.cleanup();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

interface Proposed {
  proposal: Proposal;
  /** treeHash of the worktree after the agent's edits: what the user's tree must become. */
  expectedTree: string;
  worktreeDir: string;
}

/** A real proposal: a task worktree, edits in it, makeProposal; the worktree is kept unless `removeWorktree`. */
async function propose(f: Fixture, taskId: string, edits: Record<string, string | null>, removeWorktree = true): Promise<Proposed> {
  const wt = await createTaskWorktree({ repo: f.repo.dir, taskId, home: f.home, includeUncommitted: false });
  for (const [rel, content] of Object.entries(edits)) {
    const abs = path.join(wt.dir, rel);
    if (content === null) fs.rmSync(abs);
    else {
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, content);
    }
  }
  const expectedTree = treeHash(wt.dir);
  const proposal = await makeProposal({ db: f.db, repo: f.repo.dir, worktreeDir: wt.dir, base: wt.base, taskId, summary: `fix for ${taskId}`, costMicros: 12_345 });
  if (removeWorktree) await removeTaskWorktree({ repo: f.repo.dir, taskId, home: f.home });
  return { proposal, expectedTree, worktreeDir: wt.dir };
}

/** A proposal queued as a new approval (not collapsed into an identical one waiting), with its tokens. */
function fresh(q: QueuedProposal): Extract<QueuedProposal, { collapsed: false }> {
  assert.equal(q.collapsed, false, `proposal collapsed into approval ${q.approval.id}`);
  return q as Extract<QueuedProposal, { collapsed: false }>;
}

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<ApprovalError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ApprovalError, `expected an ApprovalError, got ${(e as Error).stack}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected a refusal (${code})`);
}

if (WORKER) {
  await raceWorker();
} else {
  describe('approval queue', () => {
    let f: Fixture;
    before(() => {
      f = fixture();
    });
    after(() => f.cleanup());

    test('enqueue lists it pending with the hash shown and a 24 h expiry; tokens are returned once and only their hashes are kept', async () => {
      const { proposal } = await propose(f, 'enqueue', { 'src/add.js': 'export const add = (a, b) => a + b;\n' });
      const { approval, tokens } = fresh(f.queue.enqueueProposal({ proposal, trigger: 'tests', taskId: 'enqueue' }));
      assert.match(approval.id, /^[2-9a-z]{8}$/);
      assert.equal(approval.hash, proposal.hash);
      assert.equal(approval.kind, 'proposal');
      assert.deepEqual(approval.files, ['src/add.js']);
      assert.equal(approval.costMicros, 12_345);
      assert.equal(approval.expiresAt, '2030-01-02T10:00:00.000Z');
      assert.deepEqual(f.queue.pending().map((a) => a.id), [approval.id]);
      const rows = f.db.prepare('SELECT token_hash, action FROM approval_tokens WHERE approval_id = ?').all(approval.id) as { token_hash: string; action: string }[];
      assert.equal(rows.length, 3);
      for (const t of Object.values(tokens)) {
        assert.ok(t.length >= 40);
        assert.ok(rows.some((r) => r.token_hash === tokenHash(t)));
        assert.ok(!rows.some((r) => r.token_hash === t), 'a token is stored in clear');
      }
      // One open approval per proposal.
      assert.throws(() => f.queue.enqueueProposal({ proposal }), /already waits for approval/);
      await f.queue.deny(approval.id, { channel: 'cli' });
    });

    test('approve applies exactly the diff whose hash was shown; a second approve fails with when and via what', async () => {
      const before = treeHash(f.repo.dir);
      const { proposal, expectedTree } = await propose(f, 'apply1', { 'src/add.js': 'export const add = (a, b) => a + b;\n', 'src/new/file.txt': 'new\n', 'src/keep.txt': null });
      assert.equal(treeHash(f.repo.dir), before, 'proposing changed the tree');
      const { approval } = f.queue.enqueueProposal({ proposal, trigger: 'tests' });
      const r = await f.queue.approve(approval.id, { channel: 'cli', hash: proposal.hash.toUpperCase() });
      assert.deepEqual([...r.files].sort(), ['src/add.js', 'src/keep.txt', 'src/new/file.txt']);
      assert.equal(treeHash(f.repo.dir), expectedTree, "the user's tree is not exactly the proposed one");
      assert.equal(r.approval.state, 'approved');
      assert.equal(r.approval.decidedBy, 'cli');
      assert.equal(r.approval.decidedAt, f.clock.now.toISOString());
      assert.equal(new ProposalStore(f.db).get(proposal.id)!.state, 'applied');
      assert.deepEqual(f.queue.pending(), []);

      const again = await rejects(f.queue.approve(approval.id, { channel: 'tray' }), 'already_decided', /already approved at 2030-01-01T10:00:00\.000Z via cli/);
      assert.match(again.message, /decided once/);
      await rejects(f.queue.deny(approval.id, { channel: 'cli' }), 'already_decided', /already approved/);
      assert.equal(treeHash(f.repo.dir), expectedTree);
      f.repo.git('checkout', '-q', '--', '.');
      f.repo.git('clean', '-qfd');
    });

    test('deny discards the proposal and its worktree; the tree is untouched and the approval cannot be approved after', async () => {
      const before = treeHash(f.repo.dir);
      const { proposal, worktreeDir } = await propose(f, 'deny1', { 'src/add.js': 'nope\n' }, false);
      const { approval } = f.queue.enqueueProposal({ proposal, taskId: 'deny1' });
      assert.ok(fs.existsSync(worktreeDir));
      const r = await f.queue.deny(approval.id, { channel: 'cli', reason: 'wrong fix' });
      assert.equal(r.discardError, undefined);
      assert.equal(r.approval.state, 'denied');
      assert.equal(r.approval.reason, 'wrong fix');
      assert.equal(new ProposalStore(f.db).get(proposal.id)!.state, 'discarded');
      assert.equal(fs.existsSync(worktreeDir), false, 'the worktree was not removed');
      assert.equal(f.repo.git('branch', '--list', 'kairos/deny1').trim(), '');
      await rejects(f.queue.approve(approval.id, { channel: 'cli' }), 'already_decided', /denied at .* via cli \(wrong fix\)/);
      assert.equal(treeHash(f.repo.dir), before);
    });

    test('an expired approval cannot be approved, even before expireDue ran: expired means denied', async () => {
      const before = treeHash(f.repo.dir);
      const { proposal } = await propose(f, 'exp1', { 'src/add.js': 'late\n' });
      const { approval } = f.queue.enqueueProposal({ proposal });
      const t0 = f.clock.now;
      try {
        // Exactly at the expiry instant it is already too late.
        f.clock.now = new Date(Date.parse(approval.expiresAt));
        assert.deepEqual(f.queue.pending(), []);
        await rejects(f.queue.approve(approval.id, { channel: 'cli' }), 'expired', new RegExp(`expired at ${approval.expiresAt.replace(/\./g, '\\.')}`));
        assert.equal(treeHash(f.repo.dir), before);
        const a = f.queue.get(approval.id)!;
        assert.equal(a.state, 'expired');
        assert.equal(a.decidedBy, 'expiry');
        assert.equal(new ProposalStore(f.db).get(proposal.id)!.state, 'discarded');
        // Still expired when asked again, and a clock turned back does not revive it.
        f.clock.now = t0;
        await rejects(f.queue.approve(approval.id, { channel: 'cli' }), 'expired', /can no longer be approved/);
      } finally {
        f.clock.now = t0;
      }
    });

    test('expireDue expires exactly the due ones and discards their proposals', async () => {
      const t0 = f.clock.now;
      const a = f.queue.enqueueProposal({ proposal: (await propose(f, 'exp2', { 'src/add.js': 'a\n' })).proposal, ttlMs: 1 * HOUR });
      const b = f.queue.enqueueProposal({ proposal: (await propose(f, 'exp3', { 'src/add.js': 'b\n' })).proposal, ttlMs: 3 * HOUR });
      try {
        f.clock.now = new Date(t0.getTime() + 2 * HOUR);
        const expired = await f.queue.expireDue();
        assert.deepEqual(expired.map((r) => r.approval.id), [a.approval.id]);
        assert.equal(f.queue.get(a.approval.id)!.state, 'expired');
        assert.equal(new ProposalStore(f.db).get(a.approval.proposalId!)!.state, 'discarded');
        assert.equal(f.queue.get(b.approval.id)!.state, 'pending');
        assert.deepEqual(await f.queue.expireDue(), []);
        // Denying one that has expired meanwhile records the expiry, not an error.
        f.clock.now = new Date(t0.getTime() + 4 * HOUR);
        const d = await f.queue.deny(b.approval.id, { channel: 'cli' });
        assert.equal(d.approval.state, 'expired');
      } finally {
        f.clock.now = t0;
      }
    });

    test('a wrong hash is refused and changes nothing; the right one then applies', async () => {
      const before = treeHash(f.repo.dir);
      const { proposal, expectedTree } = await propose(f, 'hash1', { 'src/add.js': 'export const add = (a, b) => b + a;\n' });
      const { approval } = f.queue.enqueueProposal({ proposal });
      await rejects(f.queue.approve(approval.id, { channel: 'cli', hash: 'f'.repeat(64) }), 'hash_mismatch', /not the hash of the diff/);
      await rejects(f.queue.approve(approval.id, { channel: 'cli', hash: '' }), 'hash_mismatch', /empty/);
      assert.equal(treeHash(f.repo.dir), before);
      assert.equal(f.queue.get(approval.id)!.state, 'pending');
      await f.queue.approve(approval.id, { channel: 'cli', hash: proposal.hash });
      assert.equal(treeHash(f.repo.dir), expectedTree);
      f.repo.git('checkout', '-q', '--', '.');
    });

    test('tokens are single-use and bound to their approval and action, and die with the approval', async () => {
      const p1 = await propose(f, 'tok1', { 'src/add.js': 'one\n' });
      const p2 = await propose(f, 'tok2', { 'src/keep.txt': 'two\n' });
      const a1 = fresh(f.queue.enqueueProposal({ proposal: p1.proposal }));
      const a2 = fresh(f.queue.enqueueProposal({ proposal: p2.proposal }));
      const before = treeHash(f.repo.dir);
      await rejects(f.queue.approve(a2.approval.id, { channel: 'notification', token: a1.tokens.approve }), 'bad_token', /issued for another approval/);
      await rejects(f.queue.approve(a1.approval.id, { channel: 'notification', token: a1.tokens.deny }), 'bad_token', /'deny' token, not the 'approve' one/);
      await rejects(f.queue.approve(a1.approval.id, { channel: 'notification', token: 'made-up' }), 'bad_token', /not a token Kairos issued/);
      assert.equal(treeHash(f.repo.dir), before);
      // Each refused button press is on the record.
      const refusedRows = new AuditLog(f.db).recent().filter((r) => r.layer === 'validate' && r.verdict === 'deny' && /token is refused/.test(r.reason ?? ''));
      assert.deepEqual(refusedRows.map((r) => r.what).reverse(), [`approve approval ${a2.approval.id} (proposal ${p2.proposal.id}) via notification`, ...Array(2).fill(`approve approval ${a1.approval.id} (proposal ${p1.proposal.id}) via notification`)]);
      // The show token shows, once.
      assert.equal(f.queue.show(a1.approval.id, { token: a1.tokens.show }).diff!.equals(p1.proposal.diff), true);
      assert.throws(() => f.queue.show(a1.approval.id, { token: a1.tokens.show }), /already used at/);
      // The right token approves, and the approval records the channel.
      const r = await f.queue.approve(a1.approval.id, { channel: 'notification', token: a1.tokens.approve });
      assert.equal(r.approval.decidedBy, 'notification');
      assert.equal(treeHash(f.repo.dir), p1.expectedTree);
      await rejects(f.queue.approve(a1.approval.id, { channel: 'notification', token: a1.tokens.approve }), 'bad_token', /already used at/);
      f.repo.git('checkout', '-q', '--', '.');
      // After its expiry, an unused token is dead too.
      const t0 = f.clock.now;
      try {
        f.clock.now = new Date(Date.parse(a2.approval.expiresAt) + 1);
        await rejects(f.queue.deny(a2.approval.id, { channel: 'tray', token: a2.tokens.deny }), 'bad_token', /expired with the approval/);
      } finally {
        f.clock.now = t0;
      }
      // A refused approve (wrong hash) does not spend the token.
      await rejects(f.queue.approve(a2.approval.id, { channel: 'tray', token: a2.tokens.approve, hash: '0'.repeat(64) }), 'hash_mismatch', /hash/);
      const d = await f.queue.deny(a2.approval.id, { channel: 'tray', token: a2.tokens.deny });
      assert.equal(d.approval.state, 'denied');
      await rejects(f.queue.approve(a2.approval.id, { channel: 'tray', token: a2.tokens.approve }), 'already_decided', /denied at .* via tray/);
    });

    test('an apply that fails (a conflicting edit) is recorded as failed with the reason, never as approved', async () => {
      const { proposal } = await propose(f, 'conf1', { 'src/add.js': 'export const add = (a, b) => a + b; // fixed\n' });
      const { approval } = f.queue.enqueueProposal({ proposal });
      f.repo.write('src/add.js', 'export const add = (x, y) => x - y; // the user was here\n');
      const mine = treeHash(f.repo.dir);
      await rejects(f.queue.approve(approval.id, { channel: 'cli' }), 'apply_failed', /applying it failed.*conflict|applying it failed/);
      assert.equal(treeHash(f.repo.dir), mine, "a failed apply changed the user's tree");
      const a = f.queue.get(approval.id)!;
      assert.equal(a.state, 'failed');
      assert.ok(a.reason && a.reason.length > 0);
      assert.equal(new ProposalStore(f.db).get(proposal.id)!.state, 'proposed');
      await rejects(f.queue.approve(approval.id, { channel: 'cli' }), 'already_decided', /applying it failed/);
      f.repo.git('checkout', '-q', '--', '.');
    });

    test('the queue survives a restart: close the store between enqueue and approve', async () => {
      const { proposal, expectedTree } = await propose(f, 'restart1', { 'src/add.js': 'after restart\n' });
      const { approval, tokens } = fresh(f.queue.enqueueProposal({ proposal }));
      f.db.close();
      const db = openDb(f.dbFile);
      const clock = f.clock;
      f.db = db;
      f.queue = new ApprovalQueue(db, { ...proposalActions({ db, home: f.home }), now: () => clock.now });
      assert.deepEqual(f.queue.pending().map((a) => a.id), [approval.id]);
      await f.queue.approve(approval.id, { channel: 'notification', token: tokens.approve, hash: proposal.hash });
      assert.equal(treeHash(f.repo.dir), expectedTree);
      f.repo.git('checkout', '-q', '--', '.');
    });

    test('two approves at once on two connections: exactly one applies', async () => {
      const { proposal, expectedTree } = await propose(f, 'race1', { 'src/add.js': 'raced\n' });
      const { approval } = f.queue.enqueueProposal({ proposal });
      const db2 = openDb(f.dbFile);
      try {
        const q2 = new ApprovalQueue(db2, proposalActions({ db: db2, home: f.home }));
        const results = await Promise.allSettled([f.queue.approve(approval.id, { channel: 'cli' }), q2.approve(approval.id, { channel: 'tray' })]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results));
        const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        assert.match((lost.reason as Error).message, /being applied right now|already approved/);
        assert.equal(treeHash(f.repo.dir), expectedTree);
      } finally {
        db2.close();
      }
      f.repo.git('checkout', '-q', '--', '.');
    });

    test('two processes approve the same id at the same moment: exactly one applies', async () => {
      const { proposal, expectedTree } = await propose(f, 'race2', { 'src/add.js': 'raced by processes\n' });
      const { approval } = f.queue.enqueueProposal({ proposal });
      const sync = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-race-'));
      const go = path.join(sync, 'go');
      try {
        const runs = [0, 1].map((i) => {
          const ready = path.join(sync, `ready${i}`);
          const child = spawn(process.execPath, nodeArgsFor(import.meta.url, './approvals.test.ts'), {
            env: { ...process.env, KAIROS_APPROVAL_RACE_WORKER: '1', KAIROS_APPROVAL_RACE_ARGS: JSON.stringify([f.dbFile, f.home, approval.id, ready, go]) },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '';
          let err = '';
          child.stdout.on('data', (d) => (out += d));
          child.stderr.on('data', (d) => (err += d));
          const done = new Promise<{ ok: boolean; code?: string; message?: string }>((resolve, reject) =>
            child.on('exit', (code) => {
              try {
                resolve(JSON.parse(out.trim().split('\n').pop() ?? ''));
              } catch {
                reject(new Error(`worker ${i} exited ${code}: ${out}\n${err}`));
              }
            }),
          );
          return { ready, done };
        });
        const deadline = Date.now() + 30_000;
        while (!runs.every((r) => fs.existsSync(r.ready))) {
          if (Date.now() > deadline) throw new Error('workers did not get ready');
          await new Promise((r) => setTimeout(r, 20));
        }
        fs.writeFileSync(go, 'go');
        const results = await Promise.all(runs.map((r) => r.done));
        assert.equal(results.filter((r) => r.ok).length, 1, JSON.stringify(results));
        const lost = results.find((r) => !r.ok)!;
        assert.ok(lost.code === 'busy' || lost.code === 'already_decided', JSON.stringify(lost));
        assert.equal(treeHash(f.repo.dir), expectedTree);
        assert.equal(f.queue.get(approval.id)!.state, 'approved');
      } finally {
        fs.rmSync(sync, { recursive: true, force: true });
      }
      f.repo.git('checkout', '-q', '--', '.');
    });

    test("after a crash mid-apply, an approval left 'applying' is settled from its proposal", async () => {
      const { proposal } = await propose(f, 'crash1', { 'src/add.js': 'crash\n' });
      const { approval } = f.queue.enqueueProposal({ proposal });
      // What a crash leaves: the row claimed, the proposal rolled back by recoverInterruptedApplies.
      assert.ok(f.queue.store.move(approval.id, ['pending'], 'applying', { decidedAt: f.clock.now.toISOString(), decidedBy: 'cli' }));
      const recovered: Approval[] = f.queue.recoverInterrupted();
      assert.deepEqual(recovered.map((a) => [a.id, a.state]), [[approval.id, 'pending']]);
      assert.equal(f.queue.get(approval.id)!.decidedBy, null);
      // The recovery is on the record, as the daemon's own decision.
      const row = new AuditLog(f.db).recent().find((r) => r.what === `apply to user-tree: proposal ${proposal.id} (approval ${approval.id})` && r.layer === 'validate');
      assert.deepEqual([row?.verdict, row?.origin], ['deny', 'daemon']);
      assert.match(row?.reason ?? '', /rolled back on start; the approval waits again/);
      await f.queue.deny(approval.id, { channel: 'cli' });
    });

    test('the pause flag is stored, so it survives a restart', () => {
      assert.equal(isPaused(f.db), false);
      setPaused(f.db, true, f.clock.now);
      f.db.close();
      f.db = openDb(f.dbFile);
      const db = f.db;
      f.queue = new ApprovalQueue(db, { ...proposalActions({ db, home: f.home }), now: () => f.clock.now });
      assert.equal(isPaused(f.db), true);
      setPaused(f.db, false);
      assert.equal(isPaused(f.db), false);
    });

    test('refuses a made-up channel and an unknown id', async () => {
      await rejects(f.queue.approve('nosuchid', { channel: 'cli' }), 'not_found', /kairos pending/);
      await rejects(f.queue.approve('nosuchid', { channel: 'expiry' as never }), 'bad_request', /channel must be one of/);
    });
  });
}
