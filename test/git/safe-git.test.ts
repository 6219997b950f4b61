import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gitEnv, makeRepo, type TestRepo } from '../support/git-repo.js';
import { tempDir } from '../support/temp.js';
import { treeHash } from '../support/tree-hash.js';
import { EVIL_ATTRIBUTES, makeGitTrap, plantRepository, type GitTrap } from '../support/git-trap.js';
import { git, gitSync } from '../../src/git/safe-git.js';
import { locateRepo, taskWorktreeLocation, userTree } from '../../src/git/locate.js';
import { indexWorktree } from '../../src/agent/git/tree-index.js';
import { createTaskWorktree, removeTaskWorktree, type TaskWorktree } from '../../src/agent/worktree.js';
import { applyWorkerDiff, worktreeDiff } from '../../src/agent/workers.js';

/**
 * The daemon's git runner against repositories an attacker prepared: every door git has to run a
 * program (filters, fsmonitor, hooks, textconv, external diff, pager, merge drivers) is wired to a
 * trap program, and the trap's canary folder must stay byte-identical. Each test first shows that
 * plain git (discovery from the folder, as the daemon used to run it) does spring the trap, so a
 * pass means the runner, not a broken trap.
 */

const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups.reverse()) c();
});

interface World {
  repo: TestRepo;
  home: string;
  trap: GitTrap;
}

function world(): World {
  const repo = makeRepo();
  const home = tempDir('kairos-home-');
  const canary = tempDir('kairos-canary-');
  cleanups.push(repo.cleanup, home.cleanup, canary.cleanup);
  repo.commit('base', { 'src/a.txt': 'one\ntwo\nthree\n', 'src/b.txt': 'b\n' });
  return { repo, home: home.dir, trap: makeGitTrap(canary.dir) };
}

/** git as it runs without the runner: discovery from `cwd`, the caller's environment. */
function plainGit(cwd: string, args: string[]): void {
  try {
    execFileSync('git', args, { cwd, env: gitEnv(), stdio: 'ignore' });
  } catch {
    // the trap, not git's exit code, is what these controls look at
  }
}

async function taskTree(w: World, id: number): Promise<TaskWorktree> {
  const wt = await createTaskWorktree({ repo: w.repo.dir, taskId: id, home: w.home, includeUncommitted: false });
  cleanups.push(() => void removeTaskWorktree({ repo: w.repo.dir, taskId: id, home: w.home }).catch(() => {}));
  return wt;
}

test('a .git file planted in a task worktree is never followed: no filter, fsmonitor, hook, textconv, external diff or pager runs', async () => {
  const w = world();
  const wt = await taskTree(w, 1);
  const control = await taskTree(w, 2);
  for (const dir of [wt.dir, control.dir]) {
    plantRepository(dir, w.trap, { at: '.git' });
    fs.writeFileSync(path.join(dir, '.gitattributes'), EVIL_ATTRIBUTES);
    fs.writeFileSync(path.join(dir, 'src/a.txt'), 'one\nTWO\nthree\n');
  }
  const before = treeHash(w.trap.dir);

  const loc = { gitDir: wt.gitDir, workTree: wt.dir };
  await git(loc, ['status', '--porcelain']);
  await git(loc, ['diff', 'HEAD']);
  await git(loc, ['log', '-p', '-1']);
  gitSync(loc, ['ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  gitSync(loc, ['grep', '--untracked', '-n', '-e', 'TWO']);
  const idx = await indexWorktree(loc, wt.base);
  idx.dispose();
  assert.deepEqual(w.trap.ran(), [], 'a trap ran under the runner');
  assert.equal(treeHash(w.trap.dir), before, 'the canary folder changed');

  // Control: git left to discover the repository from the tree runs the planted config.
  plainGit(control.dir, ['add', '-A']);
  plainGit(control.dir, ['diff', '--cached']);
  assert.ok(w.trap.ran().includes('filter-clean'), `plain git add did not run the planted filter: ${w.trap.ran().join(', ')}`);
});

test('a .git folder planted in a subfolder (a nested repository) is not read by any command the daemon runs there', async () => {
  const w = world();
  const wt = await taskTree(w, 3);
  plantRepository(wt.dir, w.trap, { at: 'src/.git', asFolder: true });
  fs.writeFileSync(path.join(wt.dir, 'src/.gitattributes'), EVIL_ATTRIBUTES);
  fs.writeFileSync(path.join(wt.dir, 'src/b.txt'), 'changed\n');
  const loc = { gitDir: wt.gitDir, workTree: wt.dir };
  const idx = await indexWorktree(loc, wt.base);
  try {
    assert.ok(idx.problems.some((p) => p.path === 'src/.git'), JSON.stringify(idx.problems));
  } finally {
    idx.dispose();
  }
  await git(loc, ['status']);
  assert.deepEqual(w.trap.ran(), []);
  // Control: plain git run inside src/ finds the planted repository.
  plainGit(path.join(wt.dir, 'src'), ['status']);
  assert.ok(w.trap.ran().includes('fsmonitor'), `plain git status in src/ did not run the planted fsmonitor: ${w.trap.ran().join(', ')}`);
});

test("filter, merge and diff drivers of the real repository's config, selected by a .gitattributes the agent wrote, do nothing", async () => {
  const w = world();
  w.repo.git('config', 'filter.x.clean', w.trap.program('real-filter-clean'));
  w.repo.git('config', 'filter.x.smudge', w.trap.program('real-filter-smudge'));
  w.repo.git('config', 'filter.x.required', 'true');
  w.repo.git('config', 'merge.x.driver', `${w.trap.program('real-merge')} %O %A %B`);
  w.repo.git('config', 'diff.x.textconv', w.trap.program('real-textconv'));
  w.repo.git('config', 'diff.x.command', w.trap.program('real-diff-driver'));
  w.repo.git('config', 'diff.external', w.trap.program('real-diff-external'));
  w.repo.git('config', 'core.fsmonitor', w.trap.program('real-fsmonitor'));
  // A worker's edit of the line the coordinator also changes: its diff (full blob ids) needs a 3-way merge.
  const worker = await taskTree(w, 40);
  fs.writeFileSync(path.join(worker.dir, 'src/a.txt'), 'one\ndeux\nthree\n');
  const { diff } = await worktreeDiff({ gitDir: worker.gitDir, workTree: worker.dir }, worker.base, 'w');
  assert.match(diff.toString(), /^index [0-9a-f]{40}\.\.[0-9a-f]{40} 100644$/m);

  const wt = await taskTree(w, 4);
  const control = await taskTree(w, 41);
  for (const dir of [wt.dir, control.dir]) {
    fs.writeFileSync(path.join(dir, '.gitattributes'), '* filter=x merge=x diff=x\n');
    fs.writeFileSync(path.join(dir, 'src/a.txt'), 'one\nTWO\nthree\n');
  }
  const loc = { gitDir: wt.gitDir, workTree: wt.dir };
  const idx = await indexWorktree(loc, wt.base);
  try {
    assert.deepEqual(idx.changed, ['.gitattributes', 'src/a.txt']);
    assert.ok(idx.problems.some((p) => p.path === '.gitattributes' && /filter, diff or merge driver/.test(p.why)), JSON.stringify(idx.problems));
  } finally {
    idx.dispose();
  }
  await git(loc, ['diff', 'HEAD']);
  await git(loc, ['log', '-p', '-1']);
  await git(loc, ['show', 'HEAD']);
  await git(loc, ['blame', 'src/a.txt']);
  const merged = await applyWorkerDiff(loc, diff);
  assert.deepEqual(merged.conflicts, ['src/a.txt'], `the overlapping edit is a conflict: ${JSON.stringify(merged)}`);
  assert.match(fs.readFileSync(path.join(wt.dir, 'src/a.txt'), 'utf8'), /^<<<<<<< /m, 'conflict markers, from git\'s own merge');
  await assert.rejects(worktreeDiff(loc, wt.base, 'w'), /filter, diff or merge driver/);
  assert.deepEqual(w.trap.ran(), [], 'a driver of the real config ran');

  // Control: plain git in the same kind of worktree runs each driver of the real config.
  plainGit(control.dir, ['add', '-A']);
  plainGit(control.dir, ['diff', 'HEAD']);
  fs.writeFileSync(path.join(w.trap.dir, 'worker.diff'), diff);
  plainGit(control.dir, ['apply', '--3way', path.join(w.trap.dir, 'worker.diff')]);
  for (const kind of ['real-filter-clean', 'real-fsmonitor', 'real-diff-driver', 'real-merge']) assert.ok(w.trap.ran().includes(kind), `plain git did not run ${kind}: ${w.trap.ran().join(', ')}`);
});

test("the daemon's own GIT_* environment cannot steer the runner: GIT_DIR, GIT_CONFIG_PARAMETERS and GIT_EXEC_PATH are dropped", async () => {
  const w = world();
  const saved = { ...process.env };
  try {
    process.env.GIT_DIR = '/nonexistent';
    process.env.GIT_EXEC_PATH = '/nonexistent';
    process.env.GIT_CONFIG_PARAMETERS = `'core.fsmonitor'='${w.trap.program('env-fsmonitor')}'`;
    process.env.GIT_CONFIG_GLOBAL = path.join(w.trap.dir, 'global');
    fs.writeFileSync(path.join(w.trap.dir, 'global'), `[core]\n\tfsmonitor = ${w.trap.program('global-fsmonitor')}\n`);
    const layout = await locateRepo(w.repo.dir);
    assert.equal(layout.top, w.repo.dir);
    const out = (await git(userTree(layout), ['status', '--porcelain'])).stdout.toString();
    assert.equal(out, '');
    const wt = await taskTree(w, 5);
    assert.equal(taskWorktreeLocation(layout, wt.dir).gitDir, wt.gitDir);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  assert.deepEqual(w.trap.ran(), []);
});

test('the hooks of the real repository do not run when the daemon makes, snapshots and removes a worktree', async () => {
  const w = world();
  for (const h of ['post-checkout', 'pre-commit', 'post-index-change', 'reference-transaction', 'post-commit']) {
    fs.copyFileSync(w.trap.program(`real-hook-${h}`), path.join(w.repo.dir, '.git', 'hooks', h));
  }
  w.repo.write('src/dirty.txt', 'uncommitted\n');
  const wt = await createTaskWorktree({ repo: w.repo.dir, taskId: 6, home: w.home, includeUncommitted: true });
  assert.ok(fs.existsSync(path.join(wt.dir, 'src/dirty.txt')));
  await removeTaskWorktree({ repo: w.repo.dir, taskId: 6, home: w.home });
  assert.deepEqual(w.trap.ran(), []);
  // Control: the hooks are live for plain git.
  plainGit(w.repo.dir, ['checkout', '-q', '-b', 'other']);
  assert.ok(w.trap.ran().includes('real-hook-post-checkout'));
});

test("a worktree whose .git was replaced by a planted one is still removed, and the planted repository is never consulted", async () => {
  const w = world();
  const wt = await taskTree(w, 7);
  fs.rmSync(path.join(wt.dir, '.git'));
  plantRepository(wt.dir, w.trap, { at: '.git', asFolder: true });
  await removeTaskWorktree({ repo: w.repo.dir, taskId: 7, home: w.home });
  assert.equal(fs.existsSync(wt.dir), false);
  assert.equal(fs.existsSync(wt.gitDir), false, 'the admin folder is gone');
  assert.doesNotMatch(w.repo.git('branch', '--list'), /kairos\/7/);
  assert.deepEqual(w.trap.ran(), []);
});

test('drivers added to the config later, directly or in an included file, are neutralised too; a broken config stops every command', async () => {
  const w = world();
  const wt = await taskTree(w, 8);
  const loc = { gitDir: wt.gitDir, workTree: wt.dir };
  fs.writeFileSync(path.join(wt.dir, 'src/a.txt'), 'changed\n');
  const hash = async (): Promise<void> => void (await git(loc, ['hash-object', '--stdin-paths'], { input: 'src/a.txt\n' }));
  await hash(); // the config is read and remembered here
  const extra = path.join(w.trap.dir, 'extra.config');
  fs.writeFileSync(extra, `[filter "y"]\n\tclean = ${w.trap.program('included-filter-y')}\n`);
  w.repo.git('config', 'include.path', extra);
  fs.writeFileSync(path.join(wt.dir, '.gitattributes'), '* filter=y\n');
  await hash();
  // Only the included file changes now.
  fs.appendFileSync(extra, `[filter "z"]\n\tclean = ${w.trap.program('included-filter-z')}\n`);
  fs.writeFileSync(path.join(wt.dir, '.gitattributes'), '* filter=z\n');
  await hash();
  gitSync(loc, ['hash-object', '--stdin-paths'], { input: 'src/a.txt\n' });
  assert.deepEqual(w.trap.ran(), []);
  plainGit(wt.dir, ['hash-object', 'src/a.txt']);
  assert.deepEqual(w.trap.ran(), ['included-filter-z'], 'control: plain git runs the included filter');

  fs.appendFileSync(path.join(w.repo.dir, '.git', 'config'), '[broken\n');
  await assert.rejects(git(loc, ['status']), /cannot read the configuration of .*fix or remove the broken config file/);
  assert.throws(() => gitSync(loc, ['status']), /cannot read the configuration/);
});
