import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeRepo } from '../support/git-repo.js';
import { tempDir } from '../support/temp.js';
import { makeGitTrap } from '../support/git-trap.js';

/**
 * The user's global git config is not read by the daemon's git, except `safe.directory`: a
 * repository owned by another user (a mounted volume, a container) stays usable when the user has
 * declared it safe, and nothing else of that file (here: an fsmonitor and a filter) takes effect.
 * Its own process: the global config is read once per process.
 */

const isRoot = process.getuid?.() === 0;
const repo = makeRepo();
const other = tempDir('kairos-global-');
after(() => {
  repo.cleanup();
  other.cleanup();
});

test("a repository owned by another user works when the user's global config declares it safe; nothing else of that config is used", { skip: isRoot ? false : 'needs root to hand the repository to another owner' }, async () => {
  const trap = makeGitTrap(path.join(other.dir, 'canary'));
  repo.commit('x', { '.gitattributes': '* filter=x\n', 'a.txt': 'a\n' });
  fs.writeFileSync(path.join(repo.dir, 'a.txt'), 'changed\n');
  const global = path.join(other.dir, 'gitconfig');
  fs.writeFileSync(global, `[safe]\n\tdirectory = ${repo.dir}\n[core]\n\tfsmonitor = ${trap.program('global-fsmonitor')}\n[filter "x"]\n\tclean = ${trap.program('global-filter')}\n`);
  spawnSync('chown', ['-R', '4242:4242', path.dirname(repo.dir)]);
  // Control: git with no global config refuses the repository.
  const plain = spawnSync('git', ['status'], { cwd: repo.dir, env: { PATH: process.env.PATH, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' }, encoding: 'utf8' });
  assert.match(plain.stderr, /dubious ownership/);

  process.env.GIT_CONFIG_GLOBAL = global;
  const { locateRepo, userTree } = await import('../../src/git/locate.js');
  const { git } = await import('../../src/git/safe-git.js');
  const layout = await locateRepo(repo.dir);
  assert.equal(layout.top, repo.dir);
  const status = (await git(userTree(layout), ['status', '--porcelain'])).stdout.toString();
  assert.match(status, /^ M a\.txt$/m);
  await git(userTree(layout), ['hash-object', '--stdin-paths'], { input: 'a.txt\n' });
  assert.deepEqual(trap.ran(), []);
});
