import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { resolveGitDirs } from '../../src/events/git-dir.js';
import { GitStateError, headBranch, parseGitState, readGitState, serializeGitState } from '../../src/events/git-state.js';
import { makeRepo, makeRepoWithUpstream, type TestRepo, type UpstreamFixture } from '../support/git-repo.js';

describe('readGitState', () => {
  const cleanups: (() => void)[] = [];
  const repo = (initialCommit = true): TestRepo => {
    const r = makeRepo({ initialCommit });
    cleanups.push(r.cleanup);
    return r;
  };
  const upstream = (kind: 'plain' | 'worktree'): UpstreamFixture => {
    const f = makeRepoWithUpstream(kind);
    cleanups.push(f.cleanup);
    return f;
  };
  after(() => cleanups.forEach((c) => c()));

  test('matches what git itself says: HEAD, branches (loose and packed), remotes', () => {
    const f = upstream('plain');
    const r = f.work;
    r.git('branch', 'feature/deep/name');
    r.git('pack-refs', '--all');
    r.git('checkout', '-q', '-b', 'loose');
    const tip = r.commit('loose work', { 'l.txt': 'l\n' });
    const s = readGitState(resolveGitDirs(r.dir));
    assert.deepEqual(s.head, { ref: 'refs/heads/loose', sha: tip });
    assert.equal(headBranch(s), 'loose');
    const fromGit = Object.fromEntries(
      r
        .git('for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/heads/')
        .trim()
        .split('\n')
        .map((l) => l.split(' ')),
    );
    assert.deepEqual(s.branches, fromGit);
    assert.deepEqual(s.remotes, { 'origin/main': r.rev('origin/main') }, 'origin/HEAD (symbolic) is left out');
    assert.notEqual(s.fetchHead, undefined);
    assert.equal(s.reflog.entries.at(-1)?.message, 'commit: loose work');
    assert.equal(s.reflog.size, fs.statSync(path.join(r.dir, '.git', 'logs', 'HEAD')).size);
  });

  test('an unborn branch and a detached HEAD', () => {
    const empty = repo(false);
    const unborn = readGitState(resolveGitDirs(empty.dir));
    assert.deepEqual(unborn.head, { ref: 'refs/heads/main', sha: null });
    assert.deepEqual(unborn.branches, {});
    assert.deepEqual(unborn.reflog, { size: 0, entries: [] });

    const r = repo();
    r.commit('two', { 'a.txt': '2\n' });
    r.git('checkout', '-q', '--detach', 'HEAD~1');
    const detached = readGitState(resolveGitDirs(r.dir));
    assert.deepEqual(detached.head, { ref: null, sha: r.rev() });
    assert.equal(headBranch(detached), null);
  });

  test('a linked worktree reads its own HEAD and reflog and the shared refs', () => {
    const f = upstream('worktree');
    const tip = f.work.commit('in the worktree', { 'w.txt': 'w\n' });
    const s = readGitState(resolveGitDirs(f.work.dir));
    assert.deepEqual(s.head, { ref: 'refs/heads/wt', sha: tip });
    assert.equal(s.branches.main, f.clone.rev('main'));
    assert.equal(s.branches.wt, tip);
    assert.equal(s.reflog.entries.at(-1)?.message, 'commit: in the worktree');
    const main = readGitState(resolveGitDirs(f.clone.dir));
    assert.equal(main.head.ref, 'refs/heads/main');
    assert.notEqual(main.reflog.entries.at(-1)?.message, 'commit: in the worktree');
  });

  test('markers of operations in progress', () => {
    const r = repo();
    const gitDir = path.join(r.dir, '.git');
    const idle = readGitState(resolveGitDirs(r.dir));
    assert.ok(Object.values(idle.markers).every((v) => v === false));
    fs.writeFileSync(path.join(gitDir, 'index.lock'), '');
    fs.mkdirSync(path.join(gitDir, 'rebase-apply'));
    const busy = readGitState(resolveGitDirs(r.dir));
    assert.equal(busy.markers.indexLock, true);
    assert.equal(busy.markers.rebaseApply, true);
    assert.equal(busy.rebase?.backend, 'apply');
  });

  test('the reflog is read from the last read on, however much was written since', () => {
    const r = repo();
    const dirs = resolveGitDirs(r.dir);
    const first = readGitState(dirs);
    for (let i = 0; i < 120; i++) r.git('commit', '-q', '--allow-empty', '-m', `commit number ${i} ${'x'.repeat(60)}`);
    const small = readGitState(dirs, { tailBytes: 1024 });
    assert.ok(small.reflog.entries.length < 20, 'without `since` only the tail is read');
    const all = readGitState(dirs, { since: first, tailBytes: 1024 });
    const newOnes = all.reflog.entries.filter((e) => e.offset >= first.reflog.size);
    assert.equal(newOnes.length, 120);
    assert.equal(newOnes[0]?.message, `commit: commit number 0 ${'x'.repeat(60)}`);
  });

  test('a reflog line still being written is left for the next read', () => {
    const r = repo();
    const log = path.join(r.dir, '.git', 'logs', 'HEAD');
    const whole = readGitState(resolveGitDirs(r.dir));
    fs.appendFileSync(log, `${'0'.repeat(40)} ${'1'.repeat(40)} A <a@b> 1700000000 +0000\tcommit: half`);
    const s = readGitState(resolveGitDirs(r.dir));
    assert.equal(s.reflog.size, whole.reflog.size);
    assert.equal(s.reflog.entries.length, whole.reflog.entries.length);
  });

  test('serialize/parse round-trips and keeps only the reflog anchor', () => {
    const r = repo();
    r.commit('two', { 'a.txt': '2\n' });
    const s = readGitState(resolveGitDirs(r.dir));
    const back = parseGitState(serializeGitState(s));
    assert.deepEqual(back, { ...s, reflog: { size: s.reflog.size, entries: s.reflog.entries.slice(-1) } });
    assert.throws(() => parseGitState('{nope'), GitStateError);
    assert.throws(() => parseGitState(JSON.stringify({ version: 99, state: {} })), GitStateError);
  });

  test('a removed repository is a GitStateError', () => {
    const r = repo();
    const dirs = resolveGitDirs(r.dir);
    fs.rmSync(path.join(r.dir, '.git'), { recursive: true });
    assert.throws(() => readGitState(dirs), (e: unknown) => e instanceof GitStateError && /HEAD/.test(e.message));
  });
});
