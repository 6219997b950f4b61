import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { resolveGitDirs } from '../../src/events/git-dir.js';
import type { GitEventDraft, GitOperation } from '../../src/events/git-diff.js';
import { gitWatchIgnored, watchGit, type GitSource } from '../../src/events/git-source.js';
import { makeRepo, makeRepoWithUpstream, runGit, type TestRepo, type UpstreamFixture } from '../support/git-repo.js';

/** A running git source that records what it reports. */
interface Watch {
  source: GitSource;
  events: GitEventDraft[];
  operations: (GitOperation | null)[];
  errors: Error[];
  snapshots: string[];
  /** Resolves with the first recorded event matching `pred`; fails after a generous timeout. */
  until(pred: (e: GitEventDraft) => boolean, what: string): Promise<GitEventDraft>;
  untilOperation(op: GitOperation | null): Promise<void>;
}

const WAIT_MS = 15_000;

async function poll(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function watch(repoDir: string, previous?: string | null, pullGraceMs?: number): Promise<Watch> {
  const events: GitEventDraft[] = [];
  const operations: (GitOperation | null)[] = [];
  const errors: Error[] = [];
  const snapshots: string[] = [];
  const source = watchGit({
    repoDir,
    previous: previous ?? null,
    ...(pullGraceMs !== undefined ? { pullGraceMs } : {}),
    onEvents: (drafts, snapshot) => {
      events.push(...drafts);
      snapshots.push(snapshot);
    },
    onOperation: (op) => operations.push(op),
    onError: (err) => errors.push(err),
  });
  await source.ready;
  return {
    source,
    events,
    operations,
    errors,
    snapshots,
    until: async (pred, what) => {
      await poll(() => events.some(pred), what);
      return events.find(pred)!;
    },
    untilOperation: (op) => poll(() => operations.includes(op), `operation ${String(op)}`),
  };
}

const is = (type: string, extra: (d: Record<string, unknown>) => boolean = () => true) => (e: GitEventDraft) =>
  e.type === type && extra(e.data);

describe('watchGit', () => {
  const cleanups: (() => void | Promise<void>)[] = [];
  const fixture = (kind: 'plain' | 'worktree'): UpstreamFixture => {
    const f = makeRepoWithUpstream(kind);
    cleanups.push(f.cleanup);
    return f;
  };
  const repo = (): TestRepo => {
    const r = makeRepo();
    cleanups.push(r.cleanup);
    return r;
  };
  const started = async (dir: string, previous?: string | null, pullGraceMs?: number): Promise<Watch> => {
    const w = await watch(dir, previous, pullGraceMs);
    cleanups.unshift(() => w.source.close());
    return w;
  };
  after(async () => {
    for (const c of cleanups) await c();
  });

  for (const kind of ['plain', 'worktree'] as const) {
    test(`${kind}: commit, checkout -b, reset and stash arrive as events`, async () => {
      const f = fixture(kind);
      const w = await started(f.work.dir);
      const sha = f.work.commit('watched commit', { 'c.txt': 'c\n' });
      await w.until(is('git.commit', (d) => d.to === sha), 'git.commit');
      f.work.git('checkout', '-q', '-b', 'topic');
      await w.until(is('git.checkout', (d) => d.to === 'topic'), 'git.checkout');
      await w.until(is('git.branch-created', (d) => d.branch === 'topic'), 'git.branch-created');
      f.work.git('reset', '-q', '--hard', 'HEAD~1');
      await w.until(is('git.reset'), 'git.reset');
      f.work.write('a.txt', 'dirty\n');
      f.work.git('stash', '-q');
      await w.until(is('git.stash'), 'git.stash');
      await w.source.close();
      assert.deepEqual(
        w.events.map((e) => e.type),
        ['git.commit', 'git.branch-created', 'git.checkout', 'git.reset', 'git.stash'],
      );
      assert.deepEqual(w.errors, []);
    });

    test(`${kind}: pull is one git.pull, fetch is one git.fetch`, async () => {
      const f = fixture(kind);
      const w = await started(f.work.dir);
      f.upstream.commit('upstream one', { 'u1.txt': 'u\n' });
      f.work.git('pull', '-q', '--no-rebase');
      await w.until(is('git.pull'), 'git.pull');
      f.upstream.commit('upstream two', { 'u2.txt': 'u\n' });
      f.work.git('fetch', '-q');
      await w.until(is('git.fetch'), 'git.fetch');
      // close() flushes anything still held, so nothing can hide behind the wait.
      await w.source.close();
      assert.deepEqual(w.events.map((e) => e.type), ['git.pull', 'git.fetch']);
    });

    test(`${kind}: a rebase stopped on a conflict holds the operation until it finishes`, async () => {
      const f = fixture(kind);
      const r = f.work;
      r.git('checkout', '-q', '-b', 'side');
      r.commit('side edit', { 'a.txt': 'side\n' });
      r.git('checkout', '-q', f.branch);
      r.commit('base edit', { 'a.txt': 'base\n' });
      r.git('checkout', '-q', 'side');
      const w = await started(r.dir);
      assert.throws(() => r.git('rebase', f.branch), /CONFLICT/);
      await w.untilOperation('rebase');
      await w.until(is('git.rebase', (d) => d.phase === 'start'), 'rebase start');
      assert.equal(w.source.state().markers.rebaseMerge, true);
      r.write('a.txt', 'resolved\n');
      r.git('add', 'a.txt');
      r.git('rebase', '--continue');
      await w.until(is('git.rebase', (d) => d.phase === 'finish'), 'rebase finish');
      await w.untilOperation(null);
      await w.source.close();
      assert.deepEqual(
        w.events.filter((e) => e.type === 'git.rebase').map((e) => e.data.phase),
        ['start', 'finish'],
      );
      assert.equal(w.operations.at(-1), null);
    });
  }

  test('a pull whose fetch and merge are read apart is still one git.pull', async () => {
    const f = fixture('plain');
    // A grace far longer than the test: the fetch must be dropped because the pull came, not because of timing.
    const w = await started(f.work.dir, null, 600_000);
    const tip = f.upstream.commit('upstream', { 'u.txt': 'u\n' });
    f.work.git('fetch', '-q');
    await poll(() => w.source.state().remotes['origin/main'] === tip, 'the fetch to be read');
    assert.equal(w.events.length, 0, 'the fetch is held');
    // The second half of `git pull`, as pull runs it: a merge under pull's reflog name.
    runGit(f.work.dir, ['merge', '-q', '--ff-only', 'FETCH_HEAD'], { GIT_REFLOG_ACTION: 'pull' });
    await w.until(is('git.pull'), 'git.pull');
    await w.source.close();
    assert.deepEqual(w.events.map((e) => e.type), ['git.pull']);
  });

  test('a held fetch is delivered on its own when no pull follows', async () => {
    const f = fixture('plain');
    const w = await started(f.work.dir, null, 600_000);
    const tip = f.upstream.commit('upstream', { 'u.txt': 'u\n' });
    f.work.git('fetch', '-q');
    await poll(() => w.source.state().remotes['origin/main'] === tip, 'the fetch to be read');
    f.work.git('branch', 'next-thing');
    await w.until(is('git.branch-created'), 'the next event');
    assert.deepEqual(w.events.map((e) => e.type), ['git.fetch', 'git.branch-created'], 'the fetch goes out first, in order');
  });

  test('a linked worktree does not report what happens in the other worktree', async () => {
    const f = fixture('worktree');
    const w = await started(f.work.dir);
    f.clone.commit('in the main worktree', { 'm.txt': 'm\n' });
    f.clone.git('checkout', '-q', '-b', 'elsewhere');
    // A change in this worktree after the others: once it is seen, the others were read too.
    f.work.git('branch', 'sentinel');
    await w.until(is('git.branch-created', (d) => d.branch === 'sentinel'), 'sentinel branch');
    await w.source.close();
    assert.deepEqual(
      w.events.map((e) => [e.type, e.data.branch]),
      [
        ['git.branch-created', 'elsewhere'],
        ['git.branch-created', 'sentinel'],
      ],
      'branches are shared, but commits and checkouts in the other worktree are not ours',
    );
  });

  test('reconcile: what happened while the daemon was down is reported once on start', async () => {
    const r = repo();
    const first = await started(r.dir);
    r.commit('seen live', { 'a.txt': '1\n' });
    await first.until(is('git.commit'), 'live commit');
    await first.source.close();
    const stored = first.snapshots.at(-1)!;

    // Daemon down.
    const offline = r.commit('made while down', { 'a.txt': '2\n' });
    r.git('checkout', '-q', '-b', 'offline-branch');

    const second = await started(r.dir, stored);
    // Reported before ready resolved, marked as reconciled.
    assert.deepEqual(
      second.events.map((e) => e.type),
      ['git.branch-created', 'git.commit', 'git.checkout'],
    );
    assert.equal(second.events[1]?.data.to, offline);
    assert.ok(second.events.every((e) => e.data.reconciled === true));

    // Restarting from the newest snapshot reports nothing again.
    await second.source.close();
    const third = await started(r.dir, second.snapshots.at(-1)!);
    assert.deepEqual(third.events, []);
    // And with no snapshot at all (first run) the current state is just the baseline.
    const fresh = await started(r.dir, null);
    assert.deepEqual(fresh.events, []);
  });

  test('an operation in progress at start is announced; index.lock comes and goes', async () => {
    const r = repo();
    const lock = path.join(r.dir, '.git', 'index.lock');
    fs.writeFileSync(lock, '');
    const w = await started(r.dir);
    assert.deepEqual(w.operations, ['index-lock']);
    fs.rmSync(lock);
    await w.untilOperation(null);
    fs.writeFileSync(lock, '');
    await poll(() => w.operations.filter((o) => o === 'index-lock').length === 2, 'second index-lock');
  });

  test('only state files are watched: never objects/, the index, hooks or other worktrees', () => {
    const r = repo();
    const g = path.join(r.dir, '.git');
    const ignored = gitWatchIgnored(resolveGitDirs(r.dir));
    for (const p of ['objects', 'objects/ab', 'index', 'hooks', 'config', 'worktrees', 'logs/refs/heads', 'refs/tags', 'refs/heads/main.lock', 'rebase-merge/done']) {
      assert.equal(ignored(path.join(g, p)), true, `${p} must not be watched`);
    }
    for (const p of ['', 'HEAD', 'ORIG_HEAD', 'FETCH_HEAD', 'MERGE_HEAD', 'index.lock', 'packed-refs', 'refs', 'refs/heads/feature/x', 'refs/remotes/origin/main', 'refs/stash', 'logs/HEAD', 'logs/refs/stash', 'rebase-merge']) {
      assert.equal(ignored(path.join(g, p)), false, `${p || '.git'} must be watched`);
    }
    const wt = path.join(path.dirname(r.dir), 'wt');
    r.git('worktree', 'add', '-q', wt, '-b', 'wt');
    const linked = gitWatchIgnored(resolveGitDirs(wt));
    const own = path.join(g, 'worktrees', 'wt');
    assert.equal(linked(path.join(own, 'HEAD')), false);
    assert.equal(linked(path.join(own, 'logs', 'HEAD')), false);
    assert.equal(linked(path.join(own, 'index')), true);
    assert.equal(linked(path.join(g, 'HEAD')), true, "the main worktree's HEAD is not this worktree's");
    assert.equal(linked(path.join(g, 'logs', 'HEAD')), true);
    assert.equal(linked(path.join(g, 'refs', 'heads', 'wt')), false);
    assert.equal(linked(path.join(g, 'objects')), true);
  });

  test("events about the daemon's own branches are tagged origin daemon", async () => {
    const r = repo();
    const drafts: GitEventDraft[] = [];
    const source = watchGit({
      repoDir: r.dir,
      onEvents: (d) => drafts.push(...d),
      onError: (e) => assert.fail(e),
      isOwnBranch: (b) => b.startsWith('kairos/'),
    });
    cleanups.unshift(() => source.close());
    await source.ready;
    r.git('branch', 'kairos/task-1');
    r.git('branch', 'mine');
    await poll(() => drafts.length === 2, 'two branch events');
    assert.deepEqual(
      drafts.map((d) => [d.data.branch, d.origin ?? 'user']),
      [
        ['kairos/task-1', 'daemon'],
        ['mine', 'user'],
      ],
    );
  });

  test('a folder that is not a repository fails at once with a GitDirError', () => {
    const r = repo();
    assert.throws(
      () => watchGit({ repoDir: path.join(r.dir, 'nope'), onEvents: () => {}, onError: () => {} }),
      { name: 'GitDirError' },
    );
  });
});
