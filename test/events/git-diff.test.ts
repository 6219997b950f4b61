import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { resolveGitDirs } from '../../src/events/git-dir.js';
import { diffGitState, operationInProgress, type GitEventDraft } from '../../src/events/git-diff.js';
import { parseGitState, readGitState, serializeGitState, type GitState } from '../../src/events/git-state.js';
import { makeRepo, makeRepoWithUpstream, type TestRepo, type UpstreamFixture } from '../support/git-repo.js';

/**
 * Reads the state of `repo`, runs `act`, reads it again and diffs. The diff is also computed from
 * the stored (serialized) form of the first state, as the daemon does after a restart; both must agree.
 */
function observe(repo: TestRepo, act: () => void): { events: GitEventDraft[]; before: GitState; after: GitState } {
  const dirs = resolveGitDirs(repo.dir);
  const before = readGitState(dirs);
  const stored = parseGitState(serializeGitState(before));
  act();
  const after = readGitState(dirs, { since: before });
  const events = diffGitState(before, after);
  const fromStored = diffGitState(stored, readGitState(dirs, { since: stored }));
  assert.deepEqual(fromStored, events, 'the diff from the stored state must match the live one');
  return { events, before, after };
}

const types = (events: GitEventDraft[]): string[] => events.map((e) => e.type);
const conflictingBranch = (r: TestRepo, branch: string, base: string): void => {
  // `side` edits a.txt one way, `base` the other: rebasing or merging them conflicts.
  r.git('checkout', '-q', '-b', 'side');
  r.commit('side edit', { 'a.txt': 'side\n' });
  r.git('checkout', '-q', base);
  r.commit('base edit', { 'a.txt': 'base\n' });
};

for (const kind of ['plain', 'worktree'] as const) {
  describe(`git events: ${kind} ${kind === 'plain' ? 'repository' : 'linked worktree'}`, () => {
    const fixtures: UpstreamFixture[] = [];
    const fx = (): UpstreamFixture => {
      const f = makeRepoWithUpstream(kind);
      fixtures.push(f);
      return f;
    };
    after(() => fixtures.forEach((f) => f.cleanup()));

    test('commit: one git.commit on the current branch', () => {
      const f = fx();
      const from = f.work.rev();
      let to = '';
      const { events } = observe(f.work, () => (to = f.work.commit('add b', { 'b.txt': 'b\n' })));
      assert.deepEqual(events, [{ type: 'git.commit', data: { branch: f.branch, from, to, message: 'add b' } }]);
    });

    test('commit --amend is a git.commit marked amend', () => {
      const f = fx();
      f.work.commit('first try', { 'b.txt': 'b\n' });
      const { events } = observe(f.work, () => f.work.git('commit', '-q', '--amend', '-m', 'better'));
      assert.deepEqual(types(events), ['git.commit']);
      assert.equal(events[0]?.data.amend, true);
      assert.equal(events[0]?.data.message, 'better');
    });

    test('checkout of an existing branch: one git.checkout', () => {
      const f = fx();
      f.work.git('branch', 'topic');
      const { events } = observe(f.work, () => f.work.git('checkout', '-q', 'topic'));
      assert.deepEqual(types(events), ['git.checkout']);
      assert.equal(events[0]?.data.from, f.branch);
      assert.equal(events[0]?.data.to, 'topic');
      assert.equal(events[0]?.data.detached, false);
    });

    test('checkout -b: git.branch-created then git.checkout', () => {
      const f = fx();
      const { events } = observe(f.work, () => f.work.git('checkout', '-q', '-b', 'feature/x'));
      assert.deepEqual(types(events), ['git.branch-created', 'git.checkout']);
      assert.equal(events[0]?.data.branch, 'feature/x');
      assert.equal(events[1]?.data.to, 'feature/x');
    });

    test('checkout of a commit: a detached git.checkout', () => {
      const f = fx();
      const target = f.work.rev('HEAD~1');
      const { events } = observe(f.work, () => f.work.git('checkout', '-q', 'HEAD~1'));
      assert.deepEqual(types(events), ['git.checkout']);
      assert.equal(events[0]?.data.to, null);
      assert.equal(events[0]?.data.detached, true);
      assert.equal(events[0]?.data.toSha, target);
    });

    test('merge: fast-forward and merge commit are one git.merge each', () => {
      const f = fx();
      f.work.git('checkout', '-q', '-b', 'topic');
      f.work.commit('topic work', { 't.txt': 't\n' });
      f.work.git('checkout', '-q', f.branch);
      const ff = observe(f.work, () => f.work.git('merge', '-q', 'topic')).events;
      assert.deepEqual(types(ff), ['git.merge']);
      assert.equal(ff[0]?.data.fastForward, true);
      assert.equal(ff[0]?.data.source, 'topic');

      f.work.git('checkout', '-q', 'topic');
      f.work.commit('more topic', { 't2.txt': 't\n' });
      f.work.git('checkout', '-q', f.branch);
      f.work.commit('base work', { 'm.txt': 'm\n' });
      const real = observe(f.work, () => f.work.git('merge', '-q', '--no-edit', 'topic')).events;
      assert.deepEqual(types(real), ['git.merge']);
      assert.equal(real[0]?.data.fastForward, false);
    });

    test('conflicted merge: nothing while it is open (operation merge), one git.merge when committed', () => {
      const f = fx();
      conflictingBranch(f.work, 'side', f.branch);
      const open = observe(f.work, () => assert.throws(() => f.work.git('merge', 'side')));
      assert.deepEqual(open.events, []);
      assert.equal(operationInProgress(open.after), 'merge');
      const done = observe(f.work, () => f.work.commit('merged', { 'a.txt': 'both\n' }));
      assert.deepEqual(types(done.events), ['git.merge']);
      assert.equal(done.events[0]?.data.conflicted, true);
      assert.equal(operationInProgress(done.after), null);
    });

    test('rebase: git.rebase start and finish', () => {
      const f = fx();
      f.work.git('checkout', '-q', '-b', 'topic');
      const original = f.work.commit('topic work', { 't.txt': 't\n' });
      f.work.git('checkout', '-q', f.branch);
      const onto = f.work.commit('base work', { 'm.txt': 'm\n' });
      f.work.git('checkout', '-q', 'topic');
      const { events } = observe(f.work, () => f.work.git('rebase', '-q', f.branch));
      assert.deepEqual(types(events), ['git.rebase', 'git.rebase']);
      assert.deepEqual(events[0]?.data, { phase: 'start', branch: 'topic', from: original, to: onto, onto });
      assert.equal(events[1]?.data.phase, 'finish');
      assert.equal(events[1]?.data.branch, 'topic');
      assert.equal(events[1]?.data.from, original);
      assert.equal(events[1]?.data.to, f.work.rev());
    });

    test('rebase stopped on a conflict: start, operation rebase, then finish after --continue', () => {
      const f = fx();
      conflictingBranch(f.work, 'side', f.branch);
      f.work.git('checkout', '-q', 'side');
      const original = f.work.rev();
      const stopped = observe(f.work, () => assert.throws(() => f.work.git('rebase', f.branch), /CONFLICT/));
      assert.deepEqual(types(stopped.events), ['git.rebase']);
      assert.equal(stopped.events[0]?.data.phase, 'start');
      assert.equal(stopped.events[0]?.data.branch, 'side');
      assert.equal(operationInProgress(stopped.after), 'rebase');
      assert.equal(stopped.after.rebase?.headName, 'refs/heads/side');
      assert.equal(stopped.after.head.ref, null, 'HEAD is detached while the rebase is stopped');

      const finished = observe(f.work, () => {
        f.work.write('a.txt', 'resolved\n');
        f.work.git('add', 'a.txt');
        f.work.git('rebase', '--continue');
      });
      assert.deepEqual(types(finished.events), ['git.rebase']);
      assert.equal(finished.events[0]?.data.phase, 'finish');
      assert.equal(finished.events[0]?.data.branch, 'side');
      assert.equal(finished.events[0]?.data.from, original, 'from is where the branch was before the rebase');
      assert.equal(operationInProgress(finished.after), null);
    });

    test('rebase --abort ends with git.rebase phase abort', () => {
      const f = fx();
      conflictingBranch(f.work, 'side', f.branch);
      f.work.git('checkout', '-q', 'side');
      assert.throws(() => f.work.git('rebase', f.branch));
      const { events, after: state } = observe(f.work, () => f.work.git('rebase', '--abort'));
      assert.deepEqual(types(events), ['git.rebase']);
      assert.equal(events[0]?.data.phase, 'abort');
      assert.equal(operationInProgress(state), null);
    });

    test('pull (fast-forward): one git.pull, no fetch or commit', () => {
      const f = fx();
      f.upstream.commit('upstream work', { 'u.txt': 'u\n' });
      const { events } = observe(f.work, () => f.work.git('pull', '-q', '--no-rebase'));
      assert.deepEqual(types(events), ['git.pull']);
      assert.equal(events[0]?.data.fastForward, true);
      assert.equal(events[0]?.data.to, f.upstream.rev());
      assert.equal(events[0]?.data.branch, f.branch);
    });

    test('pull with a merge commit: one git.pull', () => {
      const f = fx();
      f.upstream.commit('upstream work', { 'u.txt': 'u\n' });
      f.work.commit('local work', { 'l.txt': 'l\n' });
      const { events } = observe(f.work, () => f.work.git('pull', '-q', '--no-rebase', '--no-edit'));
      assert.deepEqual(types(events), ['git.pull']);
      assert.equal(events[0]?.data.fastForward, false);
    });

    test('pull --rebase: one git.pull marked rebase, no git.rebase', () => {
      const f = fx();
      f.upstream.commit('upstream work', { 'u.txt': 'u\n' });
      f.work.commit('local work', { 'l.txt': 'l\n' });
      const { events } = observe(f.work, () => f.work.git('pull', '-q', '--rebase'));
      assert.deepEqual(types(events), ['git.pull']);
      assert.equal(events[0]?.data.rebase, true);
      assert.equal(events[0]?.data.branch, f.branch);
    });

    test('fetch: one git.fetch naming the moved remote ref', () => {
      const f = fx();
      const before = f.work.rev('origin/main');
      const after = f.upstream.commit('upstream work', { 'u.txt': 'u\n' });
      const { events } = observe(f.work, () => f.work.git('fetch', '-q'));
      assert.deepEqual(types(events), ['git.fetch']);
      assert.deepEqual(events[0]?.data.updated, [{ ref: 'origin/main', from: before, to: after }]);
    });

    test('push is not a fetch', () => {
      const f = fx();
      f.upstream.git('checkout', '-q', '--detach'); // a non-bare remote refuses pushes to its checked-out branch
      f.work.commit('local work', { 'l.txt': 'l\n' });
      const { events } = observe(f.work, () => f.work.git('push', '-q', 'origin', `${f.branch}:main`));
      assert.deepEqual(events, []);
    });

    test('stash push and pop: one git.stash each, not a reset', () => {
      const f = fx();
      f.work.write('a.txt', 'dirty\n');
      const pushed = observe(f.work, () => f.work.git('stash', '-q')).events;
      assert.deepEqual(types(pushed), ['git.stash']);
      assert.equal(pushed[0]?.data.action, 'push');
      assert.equal(pushed[0]?.data.count, 1);
      const popped = observe(f.work, () => f.work.git('stash', 'pop', '-q')).events;
      assert.deepEqual(types(popped), ['git.stash']);
      assert.equal(popped[0]?.data.action, 'drop');
      assert.equal(popped[0]?.data.count, 0);
    });

    test('branch-created and branch-deleted', () => {
      const f = fx();
      const sha = f.work.rev();
      const created = observe(f.work, () => f.work.git('branch', 'topic')).events;
      assert.deepEqual(created, [{ type: 'git.branch-created', data: { branch: 'topic', sha } }]);
      const deleted = observe(f.work, () => f.work.git('branch', '-q', '-D', 'topic')).events;
      assert.deepEqual(deleted, [{ type: 'git.branch-deleted', data: { branch: 'topic', sha } }]);
    });

    test('reset: HEAD moved is one git.reset; a reset that leaves HEAD in place is none', () => {
      const f = fx();
      const from = f.work.commit('to undo', { 'b.txt': 'b\n' });
      const to = f.work.rev('HEAD~1');
      const moved = observe(f.work, () => f.work.git('reset', '-q', '--hard', 'HEAD~1')).events;
      assert.deepEqual(moved, [
        { type: 'git.reset', data: { branch: f.branch, from, to, target: 'HEAD~1', message: 'reset: moving to HEAD~1' } },
      ]);
      f.work.write('a.txt', 'edit\n');
      assert.deepEqual(observe(f.work, () => f.work.git('reset', '-q', '--hard')).events, []);
    });

    test('cherry-pick is a git.commit via cherry-pick', () => {
      const f = fx();
      f.work.git('checkout', '-q', '-b', 'topic');
      f.work.commit('pick me', { 'p.txt': 'p\n' });
      f.work.git('checkout', '-q', f.branch);
      const { events } = observe(f.work, () => f.work.git('cherry-pick', 'topic'));
      assert.deepEqual(types(events), ['git.commit']);
      assert.equal(events[0]?.data.via, 'cherry-pick');
    });

    test('nothing happening gives no events', () => {
      const f = fx();
      assert.deepEqual(observe(f.work, () => f.work.git('status')).events, []);
    });
  });
}

describe('git events: edge cases', () => {
  const repos: TestRepo[] = [];
  const repo = (initialCommit = true): TestRepo => {
    const r = makeRepo({ initialCommit });
    repos.push(r);
    return r;
  };
  after(() => repos.forEach((r) => r.cleanup()));

  test('the first commit of a new repository is a commit, not a branch creation', () => {
    const r = repo(false);
    const { events, before } = observe(r, () => r.commit('first', { 'a.txt': 'a\n' }));
    assert.equal(before.head.sha, null);
    assert.deepEqual(types(events), ['git.commit']);
    assert.equal(events[0]?.data.initial, true);
    assert.equal(events[0]?.data.from, null);
  });

  test('many operations between two reads are each reported, in order', () => {
    const r = repo();
    const { events } = observe(r, () => {
      r.commit('one', { 'a.txt': '1\n' });
      r.git('checkout', '-q', '-b', 'topic');
      r.commit('two', { 'a.txt': '2\n' });
      r.git('checkout', '-q', 'main');
      r.git('merge', '-q', 'topic');
      r.git('reset', '-q', '--hard', 'HEAD~1');
    });
    assert.deepEqual(types(events), ['git.branch-created', 'git.commit', 'git.checkout', 'git.commit', 'git.checkout', 'git.merge', 'git.reset']);
    assert.equal(events[1]?.data.branch, 'main');
    assert.equal(events[3]?.data.branch, 'topic', 'the commit is attributed to the branch checked out when it was made');
  });

  test('renaming the current branch gives deleted + created, linked as a rename, and no checkout', () => {
    const r = repo();
    const { events } = observe(r, () => r.git('branch', '-m', 'main', 'trunk'));
    assert.deepEqual(types(events), ['git.branch-created', 'git.branch-deleted']);
    assert.equal(events[0]?.data.renamedFrom, 'main');
    assert.equal(events[1]?.data.renamedTo, 'trunk');
  });

  test('a rewritten reflog falls back to what the snapshots show', () => {
    const r = repo();
    r.commit('one', { 'a.txt': '1\n' });
    r.commit('two', { 'a.txt': '2\n' });
    const { events } = observe(r, () => {
      r.git('reflog', 'expire', '--expire=now', '--all');
      r.commit('three', { 'a.txt': '3\n' });
    });
    assert.deepEqual(types(events), ['git.commit']);
    assert.equal(events[0]?.data.inferred, true);
  });

  test('packing refs changes nothing; deleting a packed branch is seen', () => {
    const r = repo();
    r.git('branch', 'packed/one');
    const packed = observe(r, () => r.git('pack-refs', '--all'));
    assert.deepEqual(packed.events, []);
    assert.equal(packed.after.branches['packed/one'], r.rev());
    const deleted = observe(r, () => r.git('branch', '-q', '-D', 'packed/one')).events;
    assert.deepEqual(types(deleted), ['git.branch-deleted']);
  });

  test('stash count follows the stash reflog', () => {
    const r = repo();
    for (const n of [1, 2, 3]) {
      r.write('README.md', `dirty ${n}\n`);
      r.git('stash', '-q');
    }
    const state = readGitState(resolveGitDirs(r.dir));
    assert.equal(state.stash.count, 3);
    const { events } = observe(r, () => r.git('stash', 'clear'));
    assert.deepEqual(events, [{ type: 'git.stash', data: { action: 'clear', count: 0, sha: null } }]);
  });

  test('bisect and cherry-pick conflicts are operations in progress', () => {
    const r = repo();
    r.commit('two', { 'a.txt': '2\n' });
    r.git('bisect', 'start');
    assert.equal(operationInProgress(readGitState(resolveGitDirs(r.dir))), 'bisect');
    r.git('bisect', 'reset');
    conflictingBranch(r, 'side', 'main');
    assert.throws(() => r.git('cherry-pick', 'side'));
    assert.equal(operationInProgress(readGitState(resolveGitDirs(r.dir))), 'cherry-pick');
  });
});
