import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeHome, kairos, kairosJson, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { makeRepo, type TestRepo } from '../support/git-repo.js';
import { treeHash } from '../support/tree-hash.js';
import { openDb, storePath, type Db } from '../../src/store/db.js';
import { makeProposal } from '../../src/agent/proposal.js';
import { createTaskWorktree, removeTaskWorktree } from '../../src/agent/worktree.js';
import { ApprovalQueue, isPaused, proposalActions } from '../../src/pipeline/approvals.js';
import { ProposalStore } from '../../src/store/proposal-store.js';
import { callDaemon } from '../../src/cli/control-client.js';
import { socketPath } from '../../src/cli/protocol.js';
import { enforceOwnerOnly, OwnerOnlyError } from '../../daemon/approval-handlers.js';
import { startControlServer } from '../../daemon/control-server.js';

/**
 * The approval queue end to end: the real daemon (`kairos run`), the real `kairos` CLI, a real repo.
 * The agent loop is not what is tested here, so proposals are made the way it makes them
 * (createTaskWorktree → edit → makeProposal → removeTaskWorktree) on the daemon's own store and
 * queued with ApprovalQueue.enqueueProposal; everything after that goes through the daemon.
 *
 * Needs the lead's wiring: registerApprovalCommands in src/cli/main.ts and approvalHandlers mounted
 * in the daemon's control server (plus enforceOwnerOnly at start); 'control socket security' alone
 * passes without it.
 */

const POLICY = `
triggers:
  - name: on-src
    on: { fs: ["src/**"] }
    settle_ms: 300
    run: 'echo changed'
    notify: never
`;

interface PendingJson {
  id: string;
  kind: string;
  hash: string;
  summary: string;
  expires_at: string;
  trigger: string | null;
  repo: string;
  files: string[];
}
interface TaskJson {
  id: number;
  trigger: string;
  state: string;
  paths: string[];
}

describe('approvals through the real daemon and CLI', () => {
  const h = makeHome(POLICY);
  let repo: TestRepo;
  let daemon: DaemonProcess | undefined;
  let db: Db;
  let queue: ApprovalQueue;

  before(async () => {
    repo = makeRepo();
    repo.commit('code', { 'src/add.js': 'export const add = (a, b) => a - b;\n' });
    // A home that is too open must be tightened by the daemon at start.
    fs.chmodSync(h.home, 0o755);
    daemon = await spawnDaemon([repo.dir], h.env);
    db = openDb(storePath(h.home));
    queue = new ApprovalQueue(db, proposalActions({ db, home: h.home }));
    try {
      await callDaemon(h.home, 'approvals.pending');
    } catch (e) {
      throw new Error(`the daemon does not serve approvals.* (${(e as Error).message}): mount approvalHandlers from daemon/approval-handlers.ts in the daemon's control server`);
    }
    const help = kairos(['approve', '--help'], h.env);
    if (help.code !== 0) throw new Error(`\`kairos approve\` is not a command (${help.stderr.trim()}): call registerApprovalCommands(program, { home }) in src/cli/main.ts`);
  });
  after(async () => {
    kairos(['stop'], h.env);
    if (daemon) await daemon.exited;
    db?.close();
    repo?.cleanup();
    h.cleanup();
  });

  let n = 0;
  /** A proposal exactly as the agent loop leaves it, queued; returns the tree it should produce. */
  async function propose(content: string, o: { ttlMs?: number; now?: Date } = {}): Promise<{ id: string; hash: string; proposalId: string; expected: string }> {
    const taskId = `e2e${++n}`;
    const wt = await createTaskWorktree({ repo: repo.dir, taskId, home: h.home, includeUncommitted: true });
    fs.writeFileSync(path.join(wt.dir, 'src/add.js'), content);
    const expected = treeHash(wt.dir);
    const p = await makeProposal({ db, repo: repo.dir, worktreeDir: wt.dir, base: wt.base, taskId, summary: `fix ${taskId}`, costMicros: 1000 });
    await removeTaskWorktree({ repo: repo.dir, taskId, home: h.home });
    const { approval } = queue.enqueueProposal({ proposal: p, trigger: 'on-src', ...(o.ttlMs ? { ttlMs: o.ttlMs } : {}) }, o.now);
    return { id: approval.id, hash: p.hash, proposalId: p.id, expected };
  }

  test('the daemon serves from an owner-only home: 0700 home, 0600 socket', () => {
    assert.equal(fs.statSync(h.home).mode & 0o777, 0o700, 'the daemon did not tighten a 0755 KAIROS_HOME (call enforceOwnerOnly at start)');
    assert.equal(fs.statSync(socketPath(h.home)).mode & 0o777, 0o600);
  });

  test('pending --json → show → approve applies exactly the diff, as the daemon\'s own write; a second approve fails', async () => {
    const before = treeHash(repo.dir);
    const p = await propose('export const add = (a, b) => a + b;\n');
    assert.equal(treeHash(repo.dir), before);
    const pending = kairosJson<PendingJson[]>(['pending'], h.env);
    const row = pending.find((r) => r.id === p.id);
    assert.ok(row, JSON.stringify(pending));
    assert.equal(row.kind, 'proposal');
    assert.equal(row.hash, p.hash);
    assert.equal(row.summary, `fix e2e${n}`);
    assert.deepEqual(row.files, ['src/add.js']);
    assert.match(row.expires_at, /^\d{4}-/);

    const show = kairos(['show', p.id], h.env);
    assert.equal(show.code, 0, show.stderr);
    assert.ok(show.stdout.includes(p.hash));
    assert.match(show.stdout, /^\+export const add = \(a, b\) => a \+ b;$/m);

    const ok = kairos(['approve', p.id, '--hash', p.hash], h.env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /src\/add\.js/);
    assert.equal(treeHash(repo.dir), p.expected, "the user's tree is not exactly the proposed diff");

    const again = kairos(['approve', p.id], h.env);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already approved at .* via cli/);

    // The apply was tagged as the daemon's own write: a later edit by the user fires the trigger
    // with only the user's path, never src/add.js.
    repo.write('src/user.txt', 'mine\n');
    const task = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.trigger === 'on-src' && t.paths.includes('src/user.txt') && t.state !== 'queued' && t.state !== 'running'), { what: 'trigger on the user edit' });
    const all = kairosJson<TaskJson[]>(['tasks'], h.env).filter((t) => t.trigger === 'on-src');
    assert.ok(!all.some((t) => t.paths.includes('src/add.js')), `the approved write fired the trigger: ${JSON.stringify(all)}`);
    assert.ok(task);
    repo.git('checkout', '-q', '--', '.');
    fs.rmSync(path.join(repo.dir, 'src/user.txt'));
  });

  test('deny discards; an expired approval cannot be approved', async () => {
    const before = treeHash(repo.dir);
    const d = await propose('denied\n');
    const r = kairos(['deny', d.id, '--reason', 'no'], h.env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(new ProposalStore(db).get(d.proposalId)!.state, 'discarded');
    assert.notEqual(kairos(['approve', d.id], h.env).code, 0);

    const e = await propose('too late\n', { ttlMs: 1000, now: new Date(Date.now() - 60_000) });
    const late = kairos(['approve', e.id], h.env);
    assert.notEqual(late.code, 0);
    assert.match(late.stderr, /expired at \d{4}-/);
    assert.equal(treeHash(repo.dir), before);
    assert.ok(!kairosJson<PendingJson[]>(['pending'], h.env).some((p) => p.id === e.id));
  });

  test('restart the daemon between proposal and approval: the approval still works; pause survives too', async () => {
    const p = await propose('after a restart\n');
    assert.equal(kairos(['pause'], h.env).code, 0);
    assert.equal(isPaused(db), true);
    assert.equal(kairos(['stop'], h.env).code, 0);
    await daemon!.exited;
    daemon = await spawnDaemon([repo.dir], h.env);
    assert.equal(isPaused(db), true, 'pause did not survive the restart');
    assert.ok(kairosJson<PendingJson[]>(['pending'], h.env).some((r) => r.id === p.id));
    const ok = kairos(['approve', p.id], h.env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(treeHash(repo.dir), p.expected);
    assert.equal(kairos(['resume'], h.env).code, 0);
    assert.equal(isPaused(db), false);
    repo.git('checkout', '-q', '--', '.');
  });
});

describe('control socket security', () => {
  test('enforceOwnerOnly tightens a too-open home and socket, and refuses a home another user owns or a symlinked one', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-owner-'));
    const server = await startControlServer(home, {});
    try {
      fs.chmodSync(home, 0o755);
      fs.chmodSync(socketPath(home), 0o666);
      const fixed = enforceOwnerOnly(home);
      assert.equal(fixed.length, 2, fixed.join('; '));
      assert.equal(fs.statSync(home).mode & 0o777, 0o700);
      assert.equal(fs.statSync(socketPath(home)).mode & 0o777, 0o600);
      assert.deepEqual(enforceOwnerOnly(home), []);
      // As another uid, the same home is not "ours".
      const uid = process.getuid!();
      assert.throws(() => enforceOwnerOnly(home, uid + 1), (e: Error) => e instanceof OwnerOnlyError && /belongs to uid/.test(e.message));
      const link = `${home}-link`;
      fs.symlinkSync(home, link);
      try {
        assert.throws(() => enforceOwnerOnly(link), /symbolic link/);
      } finally {
        fs.rmSync(link);
      }
    } finally {
      await server.close();
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
