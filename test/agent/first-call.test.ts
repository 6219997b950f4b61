import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { trustRepo } from '../../src/policy/trust.js';
import { repoKey } from '../../src/agent/worktree.js';
import type { RecordedRequest, Reply } from '../support/fake-anthropic.js';
import { makeSizedRepo } from '../support/sized-repo.js';
import { startFirstCallHarness, lazyMatchesEager, tool, assistantTurns, lastResults, POLICY, worktreeDir, type FirstCallHarness } from '../support/first-call.js';

/**
 * Time to the first model call does not grow with the repository (issue 13 item 5): runAgentTask
 * with the real SDK against the fake Messages API, real repositories, real worktrees and a real
 * SQLite ledger. What is asserted is order, not time: the worktree folder at the moment the fake
 * server receives the first request, and the request log per turn. The same scenario on 20,000 files
 * is first-call-large.test.ts (full run only: it is disk-bound).
 */

let harness: FirstCallHarness;
before(async () => {
  harness = await startFirstCallHarness();
});
after(() => harness.close());
const fake = () => harness.fake;
const home = () => harness.home();
const run: FirstCallHarness['run'] = (...args) => harness.run(...args);

test('300 files: the first request leaves before any worktree exists; reads see the base, edits materialise it, and the proposal equals the eager path\'s', () => lazyMatchesEager(harness, 300));

test('a task that only reads and sleeps never makes a worktree; the user editing after the base was taken does not change what it reads', async () => {
  const repo = makeSizedRepo(100);
  try {
    const h = home();
    trustRepo(h.db, repo.dir);
    fake().reset();
    let third = '';
    fake().setFallback((req) => {
      const turn = assistantTurns(req);
      if (turn === 0) return tool(['read_file', { path: 'src/d0/f1.ts' }]);
      if (turn === 1) {
        // The first read waited for the base, so it is taken: the user now saves while the model
        // thinks. (An edit racing the first request may or may not make the base: the base is the tree
        // as the snapshot, begun as the first request leaves, finds it — and every read agrees with it.)
        fs.writeFileSync(path.join(repo.dir, 'src/d0/f1.ts'), 'changed after the task started\n');
        return tool(['read_file', { path: 'src/d0/f1.ts' }], ['grep', { pattern: 'changed after' }]);
      }
      third = lastResults(req);
      return tool(['sleep', { reason: 'nothing to do' }]);
    });
    const r = await run(h, repo, 7, POLICY);
    assert.equal(r.state, 'done', r.reason);
    assert.match(third, /export const value1 = 1;/);
    assert.doesNotMatch(third, /changed after the task started/);
    assert.match(third, /no match for \/changed after\//);
    assert.equal(fs.existsSync(path.join(h.home, 'worktrees', repoKey(repo.dir), '7')), false);
    assert.equal(repo.git('branch', '--list', 'kairos/*').trim(), '', 'no branch was made either');
    // Three turns, three requests.
    assert.deepEqual(fake().requests.map((r) => r.path), ['/v1/messages', '/v1/messages', '/v1/messages']);
  } finally {
    repo.cleanup();
  }
});

test('base reads keep the tools\' rules: secrets, symlinks, folders, paths outside the repository', async () => {
  const repo = makeSizedRepo(10);
  try {
    repo.write('.env', 'TOKEN=hunter2\n');
    fs.symlinkSync('/etc/passwd', path.join(repo.dir, 'passwd-link'));
    fs.symlinkSync('src/d0/f0.ts', path.join(repo.dir, 'inner-link'));
    repo.commit('secrets and a link');
    const h = home();
    trustRepo(h.db, repo.dir);
    fake().reset();
    let results = '';
    fake().setFallback((req) => {
      if (assistantTurns(req) === 0)
        return tool(['read_file', { path: '.env' }], ['read_file', { path: 'passwd-link' }], ['read_file', { path: 'inner-link' }], ['read_file', { path: 'src' }], ['read_file', { path: '../../etc/passwd' }], ['read_file', { path: '/etc/passwd' }], ['grep', { pattern: 'hunter2' }]);
      results = lastResults(req);
      return tool(['sleep', { reason: 'done' }]);
    });
    const r = await run(h, repo, 8, POLICY);
    assert.equal(r.state, 'done', r.reason);
    assert.doesNotMatch(results, /TOKEN=hunter2/);
    assert.doesNotMatch(results, /root:x:0/);
    // A link inside the repository is named with its target, never followed (the base has no files behind it).
    assert.match(results, /inner-link is a symlink \(to \\"src\/d0\/f0\.ts\\"\)/);
    assert.match(results, /src is a folder/);
    assert.equal((results.match(/is_error":true/g) ?? []).length, 6, results);
  } finally {
    repo.cleanup();
  }
});

test('near the task cap the turn still counts its tokens exactly, and the cap is never overshot', async () => {
  const repo = makeSizedRepo(10);
  try {
    const h = home();
    trustRepo(h.db, repo.dir);
    // Every answer bills its whole max_tokens: the worst case a reservation must cover.
    const script = (req: RecordedRequest): Reply => {
      const turn = assistantTurns(req);
      return { ...(turn < 3 ? tool(['read_file', { path: `src/d0/f${turn}.ts` }]) : tool(['sleep', { reason: 'done' }])), billMaxTokens: true };
    };
    // A probe far from the cap: what the first turn reserves on its bound.
    fake().reset();
    fake().setFallback(script);
    await run(h, repo, 20, POLICY);
    const probe = h.db.prepare(`SELECT reserved_micro, input_tokens FROM spend_reservations WHERE task_id = '20' ORDER BY id LIMIT 1`).get() as { reserved_micro: number; input_tokens: number };
    assert.equal(fake().requests.filter((r) => r.path.endsWith('count_tokens')).length, 0);

    // A cap one micro-dollar under that: the bound no longer grants the full max_tokens, the exact count does.
    const capUsd = (probe.reserved_micro - 1) / 1e6;
    fake().reset();
    fake().setFallback(script);
    const r = await run(h, repo, 21, `${POLICY.replace('task_usd: 5', `task_usd: ${capUsd}`)}`);
    const counted = fake().requests.filter((q) => q.path.endsWith('count_tokens')).length;
    assert.ok(counted >= 1, 'count_tokens was asked near the cap');
    const first = fake().messageRequests()[0]!;
    assert.equal(first.body.max_tokens, 4096, 'the exact count let the first turn through whole');
    const rows = h.db.prepare(`SELECT state, reserved_micro, cost_micro, note FROM spend_reservations WHERE task_id = '21'`).all() as Array<{ state: string; reserved_micro: number; cost_micro: number | null; note: string | null }>;
    const spent = rows.reduce((a, x) => a + (x.cost_micro ?? 0), 0);
    assert.ok(spent <= capUsd * 1e6, `spent ${spent} > cap ${capUsd * 1e6} (${r.state}: ${r.reason})`);
    for (const x of rows) if (x.state === 'settled') assert.ok((x.cost_micro ?? 0) <= x.reserved_micro, `reservation short: ${JSON.stringify(x)}`);
    assert.equal(rows.filter((x) => x.note?.startsWith('overrun')).length, 0);
  } finally {
    repo.cleanup();
  }
});

test('no git runs before the first request leaves: a task whose first call the spend layer refuses never snapshots the tree', async () => {
  const repo = makeSizedRepo(10);
  try {
    // The user's uncommitted content, unique to this test: a snapshot would write it as a blob.
    const dirty = `export const value0 = 0; // uncommitted ${process.pid}-${Date.now()}\n`;
    repo.write('src/d0/f0.ts', dirty);
    const blob = repo.git('hash-object', 'src/d0/f0.ts').trim(); // computed, not written
    const h = home();
    trustRepo(h.db, repo.dir);
    fake().reset();
    fake().setFallback(tool(['sleep', { reason: 'never asked' }]));
    // A task cap no act call fits, even at its floor.
    const r = await run(h, repo, 30, POLICY.replace('task_usd: 5', 'task_usd: 0.000001'));
    assert.equal(r.state, 'failed', r.reason);
    assert.equal(fake().messageRequests().length, 0, 'no model request was sent');
    // The task has ended (its cleanup waits for any git it started): nothing was snapshotted.
    assert.throws(() => repo.git('cat-file', '-e', blob), 'the dirty file was never written as an object');
    assert.equal(repo.git('branch', '--list', 'kairos/*').trim(), '');
    assert.equal(fs.existsSync(worktreeDir(h, repo, 30)), false);
  } finally {
    repo.cleanup();
  }
});
