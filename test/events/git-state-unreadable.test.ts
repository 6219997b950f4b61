/**
 * A git file that is there but cannot be read is reported as unreadable, never as absent: an
 * unreadable refs folder read as "no branches" would turn into "every branch deleted" events, and
 * an unreadable HEAD would be reported as a removed repository. The tests run as root, which
 * ignores mode bits, so they use what fails for root too: a symlink loop (ELOOP) and a folder
 * where a file belongs (EISDIR). EACCES takes the same path in the code (anything but ENOENT/ENOTDIR).
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { resolveGitDirs, GitDirError } from '../../src/events/git-dir.js';
import { GitStateError, readGitState } from '../../src/events/git-state.js';
import { makeRepo, type TestRepo } from '../support/git-repo.js';

describe('unreadable git files are errors, not absent files', () => {
  const cleanups: (() => void)[] = [];
  const repo = (): TestRepo => {
    const r = makeRepo();
    cleanups.push(r.cleanup);
    return r;
  };
  after(() => cleanups.forEach((c) => c()));

  test('a missing FETCH_HEAD is "never fetched"; a FETCH_HEAD in a symlink loop is an error naming it and ELOOP', () => {
    const r = repo();
    const dirs = resolveGitDirs(r.dir);
    const fetchHead = path.join(dirs.gitDir, 'FETCH_HEAD');
    assert.equal(readGitState(dirs).fetchHead, null, 'absent: no fetch yet');
    fs.symlinkSync(fetchHead, fetchHead);
    assert.throws(
      () => readGitState(dirs),
      (e: unknown) => e instanceof GitStateError && e.message.includes(fetchHead) && /ELOOP/.test(e.message) && (e.cause as NodeJS.ErrnoException).code === 'ELOOP',
    );
  });

  test('a refs/heads that cannot be listed is an error, not a repository without branches', () => {
    const r = repo();
    const dirs = resolveGitDirs(r.dir);
    assert.ok(Object.keys(readGitState(dirs).branches).length > 0, 'the branch is seen first');
    // The loose branch moves into packed-refs (still a branch), then refs/heads becomes a loop.
    r.git('pack-refs', '--all');
    const heads = path.join(dirs.commonDir, 'refs', 'heads');
    fs.rmSync(heads, { recursive: true });
    fs.symlinkSync(heads, heads);
    // HEAD's own ref is looked up first, through the loop: the error names a path under refs/heads.
    assert.throws(() => readGitState(dirs), (e: unknown) => e instanceof GitStateError && e.message.startsWith(heads) && /cannot be read \(ELOOP\)/.test(e.message));
  });

  test('a HEAD that is a folder is "cannot be read (EISDIR)", not "the repository was removed"', () => {
    const r = repo();
    const dirs = resolveGitDirs(r.dir);
    const head = path.join(dirs.gitDir, 'HEAD');
    fs.rmSync(head);
    fs.mkdirSync(head);
    assert.throws(() => readGitState(dirs), (e: unknown) => e instanceof GitStateError && /HEAD: cannot be read; EISDIR/.test(e.message) && !/removed/.test(e.message));
    fs.rmdirSync(head);
    assert.throws(() => readGitState(dirs), /HEAD: cannot be read; the repository was removed or is damaged/, 'absent: removed');
  });

  test('a .git in a symlink loop is "cannot be opened (ELOOP)", not "not a git repository"', () => {
    const r = repo();
    const dotGit = path.join(r.dir, '.git');
    fs.renameSync(dotGit, path.join(r.dir, 'real-git'));
    fs.symlinkSync(dotGit, dotGit);
    assert.throws(() => resolveGitDirs(r.dir), (e: unknown) => e instanceof GitDirError && e.message === `${dotGit}: cannot be opened (ELOOP); check its permissions`);
    fs.rmSync(dotGit);
    assert.throws(() => resolveGitDirs(r.dir), /not a git repository \(no \.git here\)/, 'absent: not a repository');
  });
});
