import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeRepo } from '../support/git-repo.js';
import { tempDir } from '../support/temp.js';
import { makeGitTrap } from '../support/git-trap.js';
import { detectSandbox, NO_SANDBOX, type SandboxStatus } from '../../src/policy/sandbox.js';
import { createTaskWorktree, removeTaskWorktree } from '../../src/agent/worktree.js';
import { gitRead, type GitToolScope } from '../../src/agent/tools/git-read.js';
import { grep, listFiles } from '../../src/agent/tools/files.js';
import { execFileSync } from 'node:child_process';
import { ToolError } from '../../src/agent/tools/tool-error.js';

/**
 * The agent's `git` tool (issue 10, item 2): an allow-list of subcommands and of options per
 * subcommand, every path confined to the worktree, options that read a file only with a confined,
 * non-secret file, run in the sandbox with the daemon's hardened git. Refusals come back as a
 * ToolError whose message the model sees; allowed forms still work.
 */

const sandbox = detectSandbox();
const repo = makeRepo();
const home = tempDir('kairos-home-');
const outside = tempDir('kairos-outside-');
const trap = makeGitTrap(path.join(outside.dir, 'canary'));
fs.writeFileSync(path.join(outside.dir, 'secret.txt'), 'OUTSIDE-SECRET\n');
repo.commit('one', { 'src/a.ts': 'export const a = 1;\nexport const b = 2;\n', '.env': 'DB_PASSWORD=hunter2\n', '.gitattributes': '*.ts diff=x\n' });
repo.commit('two', { 'src/a.ts': 'export const a = 1;\nexport const b = 3;\n', 'revs.txt': '' });
repo.git('config', 'diff.x.textconv', trap.program('textconv'));
repo.git('config', 'core.fsmonitor', trap.program('fsmonitor'));

const TASK = 900;
let scope: GitToolScope;
after(async () => {
  await removeTaskWorktree({ repo: repo.dir, taskId: TASK, home: home.dir });
  repo.cleanup();
  home.cleanup();
  outside.cleanup();
});

async function setup(status: SandboxStatus = sandbox): Promise<GitToolScope> {
  if (!scope) {
    const wt = await createTaskWorktree({ repo: repo.dir, taskId: TASK, home: home.dir, includeUncommitted: false });
    fs.symlinkSync(path.join(outside.dir, 'secret.txt'), path.join(wt.dir, 'src/out-link'));
    fs.writeFileSync(path.join(wt.dir, 'src/a.ts'), 'export const a = 10;\nexport const b = 3;\n');
    scope = { git: { gitDir: wt.gitDir, workTree: wt.dir }, repo: repo.dir, sandbox, home: home.dir, kairosHome: home.dir, timeoutMs: 30_000 };
  }
  return { ...scope, sandbox: status };
}

async function refused(args: string | string[], why: RegExp): Promise<void> {
  const s = await setup();
  await assert.rejects(gitRead(s, { args }), (e: unknown) => {
    assert.ok(e instanceof ToolError, String(e));
    assert.match(e.message, why);
    return true;
  });
}

describe('refused', () => {
  const abs = (p: string) => path.join(outside.dir, p);
  const cases: Array<[string, string | string[], RegExp]> = [
    ['blame --contents /etc/passwd', ['blame', '--contents', '/etc/passwd', 'src/a.ts'], /option '--contents': '\/etc\/passwd' is an absolute path outside the repository/],
    ['blame --contents=<outside file>', ['blame', `--contents=${abs('secret.txt')}`, 'src/a.ts'], /is an absolute path outside the repository/],
    ['blame --contents .env (a secret file in the tree)', ['blame', '--contents', '.env', 'src/a.ts'], /'\.env' is a secret file; it is never read for the model/],
    ['blame --contents <the user repo>/.env', ['blame', '--contents', path.join(repo.dir, '.env'), 'src/a.ts'], /is an absolute path outside the repository/],
    ['blame --contents through a symlink out', ['blame', '--contents', 'src/out-link', 'src/a.ts'], /goes through a symlink that points outside/],
    ['blame --ignore-revs-file=/etc/shadow', ['blame', '--ignore-revs-file=/etc/shadow', 'src/a.ts'], /option '--ignore-revs-file=\/etc\/shadow': '\/etc\/shadow' is an absolute path outside/],
    ['blame --ignore-revs-file /etc/shadow', 'blame --ignore-revs-file /etc/shadow src/a.ts', /'\/etc\/shadow' is an absolute path outside/],
    ['blame -S <revs file>', ['blame', '-S', 'revs.txt', 'src/a.ts'], /option '-S' is not allowed/],
    ['log --output', `log --output=${abs('out.txt')}`, /option '--output=[^']*' is not allowed/],
    ['-c x=y before the subcommand', ['-c', 'core.pager=sh', 'log'], /git -c: only status, diff, log, show, blame are allowed/],
    ['--exec-path', ['--exec-path=/tmp', 'log'], /git --exec-path=\/tmp: only status, diff, log, show, blame are allowed/],
    ['log --exec-path', ['log', '--exec-path'], /option '--exec-path' is not allowed/],
    ['log --format=%(describe)', ['log', '--format=%(describe)'], /'%\(…\)' placeholders are not allowed/],
    ['log --pretty=format:%GS (gpg)', ['log', '--pretty=format:%GS'], /'%G' placeholders run gpg/],
    ['log --show-signature', ['log', '--show-signature'], /option '--show-signature' is not allowed/],
    ['log -p --ext-diff', ['log', '-p', '--ext-diff'], /option '--ext-diff' is not allowed/],
    ['show --textconv', ['show', '--textconv', 'HEAD'], /option '--textconv' is not allowed/],
    ['diff --no-index', ['diff', '--no-index', '/etc/passwd', 'src/a.ts'], /option '--no-index' is not allowed/],
    ['diff -O<orderfile outside>', ['diff', '-O/etc/passwd'], /option '-O\/etc\/passwd': '\/etc\/passwd' is an absolute path outside/],
    ['diff /etc/passwd', ['diff', '/etc/passwd'], /git diff: '\/etc\/passwd': '\/etc\/passwd' is an absolute path outside the repository/],
    ['log -- ../escape', ['log', '--', '../../x'], /leaves the repository/],
    ['show HEAD:.env', ['show', 'HEAD:.env'], /'HEAD:\.env' names a secret file/],
    ['show :.env (the index)', ['show', ':.env'], /names a secret file/],
    ['pathspec magic', ['log', '--', ':(attr:diff)src'], /pathspec magic is not allowed/],
    ['status --ignore-submodules=none', ['status', '--ignore-submodules=none'], /option '--ignore-submodules=none' is not allowed/],
    ['a shell operator in a string', 'log | sh', /shell operators, globs and variables are not allowed/],
    ['commit', ['commit', '-am', 'x'], /git commit: only status, diff, log, show, blame are allowed/],
    ['a flag given a value', ['log', '--oneline=yes'], /option '--oneline=yes' is not allowed/],
    ['clustered short options', ['log', '-pw'], /option '-pw' is not allowed/],
    ['-n without a number', ['log', '-n', 'x'], /expects a number/],
  ];
  for (const [name, args, why] of cases) {
    test(name, () => refused(args, why));
  }
});

describe('allowed, and working', { skip: sandbox.available ? false : 'no sandbox here' }, () => {
  test('status, log, show, diff and blame, in the sandbox; no program of the repository config runs', async () => {
    const s = await setup();
    assert.match(await gitRead(s, { args: 'status --short' }), /M src\/a\.ts/);
    assert.match(await gitRead(s, { args: ['log', '--oneline', '-n', '2'] }), /two\n[0-9a-f]+ one/);
    assert.match(await gitRead(s, { args: ['log', '-1', '--format=%h %an %s'] }), /^[0-9a-f]+ Kairos Test two$/m);
    assert.match(await gitRead(s, { args: 'show --stat HEAD' }), /src\/a\.ts \| 2/);
    assert.match(await gitRead(s, { args: ['diff', '--', 'src/a.ts'] }), /^-export const a = 1;\n\+export const a = 10;$/m);
    assert.match(await gitRead(s, { args: ['blame', '-L', '1,2', 'src/a.ts'] }), /Not Committed Yet/);
    fs.writeFileSync(path.join(s.git.workTree, 'src/other.txt'), 'x\ny\n');
    assert.match(await gitRead(s, { args: ['blame', '--contents', 'src/other.txt', 'src/a.ts'] }), /Not Committed Yet/);
    assert.match(await gitRead(s, { args: ['log', '--format=%H', 'HEAD~1..HEAD', '--', 'src'] }), /^[0-9a-f]{40}$/m);
    assert.deepEqual(trap.ran(), [], 'the textconv or fsmonitor of the repository config ran');
  });

  test('it goes through bubblewrap, with the repository git folder read-only and the hardened git environment', async () => {
    const s = await setup();
    const log = path.join(outside.dir, 'bwrap-args.log');
    const wrapper = path.join(outside.dir, 'bwrap-wrapper.sh');
    fs.writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' "$@" > '${log}'\nenv | grep '^GIT_' >> '${log}'\nexec '${sandbox.executable}' "$@"\n`, { mode: 0o755 });
    assert.match(await gitRead({ ...s, sandbox: { ...sandbox, executable: wrapper } }, { args: 'log --oneline -1' }), /two/);
    const seen = fs.readFileSync(log, 'utf8').replace(/\\/g, ''); // the shell command's own quoting
    for (const must of ['--unshare-all', '--ro-bind-try', path.join(repo.dir, '.git'), `--git-dir=${s.git.gitDir}`, `--work-tree=${s.git.workTree}`, 'GIT_CONFIG_NOSYSTEM=1', 'GIT_CONFIG_GLOBAL=/dev/null', 'core.hooksPath']) {
      assert.ok(seen.includes(must), `${must} not in the sandboxed command:\n${seen}`);
    }
  });

  test('output is bounded', async () => {
    const s = await setup();
    const out = await gitRead({ ...s, outputLimit: 200 }, { args: ['log', '-p'] });
    assert.ok(out.length < 400, `${out.length} characters`);
  });
});

test('without a sandbox it still runs, through the hardened git alone', async () => {
  const s = await setup(NO_SANDBOX);
  assert.match(await gitRead(s, { args: ['log', '--oneline', '-n', '1'] }), /two/);
  assert.deepEqual(trap.ran(), []);
});

test('list_files and grep on a tree where git would wait forever stop at their time limit, without blocking the daemon', async () => {
  const s = await setup(NO_SANDBOX);
  const dir = path.join(s.git.workTree, 'vendor/x');
  fs.mkdirSync(path.join(dir, 'evil/objects'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'evil/refs'), { recursive: true });
  execFileSync('mkfifo', [path.join(dir, 'evil/HEAD')]);
  fs.writeFileSync(path.join(dir, '.git'), 'gitdir: evil\n');
  try {
    const scope = { root: s.git.workTree, gitDir: s.git.gitDir, gitTimeoutMs: 1500, maxReadBytes: 1000 };
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 50);
    await assert.rejects(listFiles(scope, { pattern: '**' }), /list_files failed: .*was stopped after 1500 ms/);
    await assert.rejects(grep(scope, { pattern: 'a' }), /grep failed: .*was stopped after 1500 ms/);
    clearInterval(ticker);
    assert.ok(ticks > 20, `the event loop was blocked (${ticks} ticks in 3 s)`);
  } finally {
    fs.rmSync(path.join(s.git.workTree, 'vendor'), { recursive: true, force: true });
  }
});
