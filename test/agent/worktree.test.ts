import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeRepo, makeRepoWithUpstream, type TestRepo } from '../support/git-repo.js';
import { tempDir } from '../support/temp.js';
import { snapshotTree } from '../support/tree-hash.js';
import {
  createTaskWorktree,
  reconcileWorktrees,
  removeTaskWorktree,
  repoKey,
  WorktreeError,
} from '../../src/agent/worktree.js';

// The code under test runs git with the process environment: keep the developer's config out of it.
process.env.GIT_CONFIG_GLOBAL = '/dev/null';
process.env.GIT_CONFIG_NOSYSTEM = '1';

const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups.reverse()) c();
});

function setup(): { repo: TestRepo; home: string } {
  const repo = makeRepo();
  const home = tempDir('kairos-home-');
  cleanups.push(repo.cleanup, home.cleanup);
  return { repo, home: home.dir };
}


function fileHash(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** What the user could observe of their repository: tree bytes, index bytes, status, HEAD, branch, stash. */
function userView(repo: TestRepo): Record<string, unknown> {
  return {
    tree: snapshotTree(repo.dir),
    index: fileHash(path.resolve(repo.dir, repo.git('rev-parse', '--git-path', 'index').trim())),
    status: repo.git('status', '--porcelain=v1', '--untracked-files=all', '--ignored'),
    head: repo.rev(),
    branch: repo.git('symbolic-ref', 'HEAD').trim(),
    stash: repo.git('stash', 'list'),
  };
}

function dirtyRepo(): { repo: TestRepo; home: string } {
  const s = setup();
  s.repo.commit('files', {
    '.gitignore': '*.log\n',
    'a.txt': 'a1\na2\na3\n',
    'b.txt': 'b1\n',
    'staged.txt': 'staged v1\n',
    'gone.txt': 'to be deleted\n',
  });
  s.repo.write('a.txt', 'a1\na2 user\na3\n'); // unstaged edit
  s.repo.write('staged.txt', 'staged v2\n');
  s.repo.git('add', 'staged.txt'); // staged edit
  s.repo.write('staged.txt', 'staged v3 on disk\n'); // and edited again after staging
  s.repo.write('new-staged.txt', 'new and staged\n');
  s.repo.git('add', 'new-staged.txt');
  s.repo.write('notes/untracked.md', 'untracked\n');
  s.repo.write('debug.log', 'ignored\n');
  fs.rmSync(path.join(s.repo.dir, 'gone.txt'));
  return s;
}

describe('createTaskWorktree', () => {
  test('makes kairos/<id> from HEAD under $KAIROS_HOME, outside the repository', async () => {
    const { repo, home } = setup();
    repo.commit('more', { 'src/x.ts': 'export const x = 1;\n' });
    const before = userView(repo);
    const wt = await createTaskWorktree({ repo: repo.dir, taskId: 7, home, includeUncommitted: false });
    assert.equal(wt.branch, 'kairos/7');
    assert.equal(wt.base, repo.rev());
    assert.equal(wt.head, repo.rev());
    assert.equal(wt.dir, path.join(home, 'worktrees', repoKey(repo.dir), '7'));
    assert.ok(!wt.dir.startsWith(repo.dir + path.sep));
    assert.equal(fs.readFileSync(path.join(wt.dir, 'src/x.ts'), 'utf8'), 'export const x = 1;\n');
    assert.equal(repo.git('rev-parse', 'kairos/7').trim(), repo.rev());
    // The agent's edits stay in the worktree.
    fs.writeFileSync(path.join(wt.dir, 'src/x.ts'), 'export const x = 2;\n');
    fs.writeFileSync(path.join(wt.dir, 'new.txt'), 'new\n');
    assert.deepEqual(userView(repo), before);
  });

  test("does not run the user's hooks (post-checkout would otherwise write into their tree)", async () => {
    const { repo, home } = setup();
    const hook = path.join(repo.dir, '.git', 'hooks', 'post-checkout');
    fs.writeFileSync(hook, `#!/bin/sh\necho ran > "${path.join(repo.dir, 'HOOK-RAN')}"\n`, { mode: 0o755 });
    await createTaskWorktree({ repo: repo.dir, taskId: 'h1', home, includeUncommitted: false });
    assert.equal(fs.existsSync(path.join(repo.dir, 'HOOK-RAN')), false);
  });

  test('includeUncommitted carries staged, unstaged, deleted and untracked files without touching the tree or index', async () => {
    const { repo, home } = dirtyRepo();
    const head = repo.rev();
    const before = userView(repo);
    const wt = await createTaskWorktree({ repo: repo.dir, taskId: 8, home, includeUncommitted: true });
    assert.deepEqual(userView(repo), before, 'user tree, index, status, HEAD and stash unchanged');

    assert.notEqual(wt.base, head);
    assert.equal(wt.head, head);
    assert.equal(repo.git('rev-parse', `${wt.base}^`).trim(), head, 'the carried state is one commit on top of HEAD');
    const read = (rel: string): string => fs.readFileSync(path.join(wt.dir, rel), 'utf8');
    assert.equal(read('a.txt'), 'a1\na2 user\na3\n');
    assert.equal(read('staged.txt'), 'staged v3 on disk\n', 'the version on disk wins over the staged one');
    assert.equal(read('new-staged.txt'), 'new and staged\n');
    assert.equal(read('notes/untracked.md'), 'untracked\n');
    assert.equal(fs.existsSync(path.join(wt.dir, 'gone.txt')), false);
    assert.equal(fs.existsSync(path.join(wt.dir, 'debug.log')), false, 'ignored files stay behind');
    // The worktree is clean against its base: a later diff holds only the agent's changes.
    assert.equal(fs.readFileSync(path.join(wt.dir, '.git'), 'utf8').startsWith('gitdir:'), true);
    assert.equal(
      (await import('node:child_process')).execFileSync('git', ['status', '--porcelain'], { cwd: wt.dir, encoding: 'utf8' }),
      '',
    );
  });

  test("works when the user's repository is itself a linked worktree (its own index under .git/worktrees/)", async () => {
    const fx = makeRepoWithUpstream('worktree');
    const home = tempDir('kairos-home-');
    cleanups.push(fx.cleanup, home.cleanup);
    fx.work.write('a.txt', 'a dirty\n');
    fx.work.write('u.txt', 'untracked\n');
    const before = userView(fx.work);
    const wt = await createTaskWorktree({ repo: fx.work.dir, taskId: 12, home: home.dir, includeUncommitted: true });
    assert.deepEqual(userView(fx.work), before);
    assert.equal(fs.readFileSync(path.join(wt.dir, 'a.txt'), 'utf8'), 'a dirty\n');
    assert.equal(fs.readFileSync(path.join(wt.dir, 'u.txt'), 'utf8'), 'untracked\n');
    assert.equal(fx.clone.git('rev-parse', 'kairos/12').trim(), wt.base);
  });

  test('includeUncommitted on a clean tree bases on HEAD itself', async () => {
    const { repo, home } = setup();
    const wt = await createTaskWorktree({ repo: repo.dir, taskId: 9, home, includeUncommitted: true });
    assert.equal(wt.base, repo.rev());
  });

  test('refuses bad task ids, an unborn HEAD and a task that already has a worktree', async () => {
    const { repo, home } = setup();
    for (const bad of ['../x', 'a/b', '', '.hidden', 'x'.repeat(65), 'a b']) {
      await assert.rejects(createTaskWorktree({ repo: repo.dir, taskId: bad, home, includeUncommitted: false }), WorktreeError);
    }
    await createTaskWorktree({ repo: repo.dir, taskId: 3, home, includeUncommitted: false });
    await assert.rejects(createTaskWorktree({ repo: repo.dir, taskId: 3, home, includeUncommitted: false }), /already exists/);

    const unborn = makeRepo({ initialCommit: false });
    cleanups.push(unborn.cleanup);
    await assert.rejects(createTaskWorktree({ repo: unborn.dir, taskId: 1, home, includeUncommitted: true }), /no commit yet/);
    assert.equal(fs.existsSync(path.join(home, 'worktrees', repoKey(unborn.dir), '1')), false);
  });
});

describe('removeTaskWorktree', () => {
  test('removes the folder (even with edits) and the branch, and is idempotent', async () => {
    const { repo, home } = setup();
    const wt = await createTaskWorktree({ repo: repo.dir, taskId: 11, home, includeUncommitted: false });
    fs.writeFileSync(path.join(wt.dir, 'README.md'), 'edited\n');
    fs.writeFileSync(path.join(wt.dir, 'untracked'), 'x\n');
    const r = await removeTaskWorktree({ repo: repo.dir, taskId: 11, home });
    assert.equal(r.branch, 'kairos/11');
    assert.equal(fs.existsSync(wt.dir), false);
    assert.equal(repo.git('branch', '--list', 'kairos/*'), '');
    assert.equal(repo.git('worktree', 'list', '--porcelain').includes(wt.dir), false);
    const again = await removeTaskWorktree({ repo: repo.dir, taskId: 11, home });
    assert.deepEqual([again.dir, again.branch], [null, null]);
  });
});

describe('reconcileWorktrees', () => {
  test("removes every leaked worktree and owned branch of tasks that are not live, and keeps the user's kairos/* branch", async () => {
    const { repo, home } = setup();
    const wts = [];
    for (const id of [1, 2, 3, 4]) wts.push(await createTaskWorktree({ repo: repo.dir, taskId: id, home, includeUncommitted: false }));
    // Leaks as a crash leaves them: 1 intact; 3's folder gone but still registered; 4's worktree gone, branch left.
    fs.rmSync(wts[2]!.dir, { recursive: true, force: true });
    repo.git('worktree', 'remove', '--force', wts[3]!.dir);
    repo.git('branch', 'kairos/feature'); // the user's own branch, no ownership marker
    const stray = path.join(home, 'worktrees', repoKey(repo.dir), '5');
    fs.mkdirSync(stray, { recursive: true }); // a folder made before a crash, never registered
    const missingRepo = path.join(home, 'no-such-repo');

    const removed = await reconcileWorktrees({ home, repos: [repo.dir, missingRepo], liveTaskIds: [2] });
    assert.deepEqual(removed.map((r) => r.taskId).sort(), ['1', '3', '4', '5']);
    assert.deepEqual(
      repo.git('for-each-ref', '--format=%(refname:short)', 'refs/heads/kairos/').trim().split('\n').sort(),
      ['kairos/2', 'kairos/feature'],
    );
    const listed = repo.git('worktree', 'list', '--porcelain');
    assert.ok(listed.includes(wts[1]!.dir));
    for (const i of [0, 2, 3]) assert.ok(!listed.includes(wts[i]!.dir), `worktree ${i + 1} unregistered`);
    assert.deepEqual(fs.readdirSync(path.join(home, 'worktrees', repoKey(repo.dir))).sort(), ['.owned', '2']);
    assert.deepEqual(fs.readdirSync(path.join(home, 'worktrees', repoKey(repo.dir), '.owned')), ['2']);
    assert.ok(fs.existsSync(path.join(wts[1]!.dir, 'README.md')), 'the live task keeps its worktree');

    // Nothing left to do on a second start.
    assert.deepEqual(await reconcileWorktrees({ home, repos: [repo.dir], liveTaskIds: [2] }), []);
  });
});
