import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { GitDirError, resolveGitDirs } from '../../src/events/git-dir.js';
import { diffGitState } from '../../src/events/git-diff.js';
import { readGitState } from '../../src/events/git-state.js';
import { makeRepo, runGit, wrapRepo, type TestRepo } from '../support/git-repo.js';
import { tempDir } from '../support/temp.js';

describe('resolveGitDirs', () => {
  const cleanups: (() => void)[] = [];
  const repo = (): TestRepo => {
    const r = makeRepo();
    cleanups.push(r.cleanup);
    return r;
  };
  const temp = (): string => {
    const t = tempDir('kairos-gitdir-');
    cleanups.push(t.cleanup);
    return t.dir;
  };
  after(() => cleanups.forEach((c) => c()));

  test('a plain repository: gitDir and commonDir are its .git', () => {
    const r = repo();
    const dirs = resolveGitDirs(r.dir);
    assert.deepEqual(dirs, { workTree: r.dir, gitDir: path.join(r.dir, '.git'), commonDir: path.join(r.dir, '.git') });
  });

  test('a linked worktree: gitDir is its own folder, commonDir the main .git', () => {
    const r = repo();
    const wt = path.join(path.dirname(r.dir), 'wt');
    r.git('worktree', 'add', '-q', wt, '-b', 'wt');
    const dirs = resolveGitDirs(wt);
    assert.equal(dirs.workTree, wt);
    assert.equal(dirs.gitDir, path.join(r.dir, '.git', 'worktrees', 'wt'));
    assert.equal(dirs.commonDir, path.join(r.dir, '.git'));
  });

  test('a .git file with a relative gitdir and no commondir (submodule layout)', () => {
    const root = temp();
    const work = path.join(root, 'work');
    fs.mkdirSync(work);
    runGit(root, ['init', '-q', '--separate-git-dir', path.join(root, 'store.git'), work]);
    // git writes an absolute path; a submodule's is relative to the work tree.
    fs.writeFileSync(path.join(work, '.git'), 'gitdir: ../store.git\n');
    const dirs = resolveGitDirs(work);
    assert.equal(dirs.gitDir, path.join(root, 'store.git'));
    assert.equal(dirs.commonDir, path.join(root, 'store.git'));
    // and events are read through it
    const r = wrapRepo(work);
    const before = readGitState(dirs);
    r.commit('first', { 'a.txt': 'a\n' });
    const events = diffGitState(before, readGitState(dirs, { since: before }));
    assert.deepEqual(events.map((e) => e.type), ['git.commit']);
  });

  test('errors say what is wrong and how to fix it', () => {
    const root = temp();
    assert.throws(() => resolveGitDirs(path.join(root, 'missing')), (e: unknown) => e instanceof GitDirError && /no such folder/.test(e.message));
    assert.throws(
      () => resolveGitDirs(root),
      (e: unknown) => e instanceof GitDirError && /not a git repository/.test(e.message) && /git init/.test(e.message),
    );
    fs.writeFileSync(path.join(root, '.git'), 'nonsense\n');
    assert.throws(() => resolveGitDirs(root), (e: unknown) => e instanceof GitDirError && /gitdir: <path>/.test(e.message));
    fs.writeFileSync(path.join(root, '.git'), 'gitdir: ../gone\n');
    assert.throws(() => resolveGitDirs(root), (e: unknown) => e instanceof GitDirError && /does not exist/.test(e.message) && /worktree/.test(e.message));
  });

  test('a worktree whose main repository moved is reported', () => {
    const r = repo();
    const wt = path.join(path.dirname(r.dir), 'wt2');
    r.git('worktree', 'add', '-q', wt, '-b', 'wt2');
    const gitDir = path.join(r.dir, '.git', 'worktrees', 'wt2');
    fs.writeFileSync(path.join(gitDir, 'commondir'), '../../../nowhere\n');
    assert.throws(() => resolveGitDirs(wt), (e: unknown) => e instanceof GitDirError && /commondir/.test(e.message));
  });
});
