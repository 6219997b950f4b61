// The file tools against hostile files: FIFOs, sockets, symlinks out of the tree, huge files. Each
// call must settle (a blocked open would hang the daemon's main thread, and this test with it).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { editFile, grep, listFiles, readFile, worktreeGitDir, writeFile, type FileScope } from '../../src/agent/tools/files.js';
import { ToolError } from '../../src/agent/tools/tool-error.js';
import { tempDir } from '../support/temp.js';

describe('file tools open only regular files, without blocking', { timeout: 30_000 }, () => {
  const tmp = tempDir('kairos-files-');
  let root: string;
  let scope: FileScope;
  let server: net.Server;

  before(async () => {
    root = path.join(tmp.dir, 'wt');
    fs.mkdirSync(path.join(root, 'src'), { recursive: true });
    execFileSync('git', ['init', '-q'], { cwd: root });
    fs.writeFileSync(path.join(root, 'src/a.ts'), 'export const a = 1;\n');
    execFileSync('mkfifo', [path.join(root, 'src/pipe')]);
    fs.symlinkSync('pipe', path.join(root, 'src/pipe-link'));
    fs.symlinkSync('/dev/zero', path.join(root, 'zero'));
    fs.writeFileSync(path.join(tmp.dir, 'outside.txt'), 'outside\n');
    fs.symlinkSync(path.join(tmp.dir, 'outside.txt'), path.join(root, 'out-link'));
    server = net.createServer();
    await new Promise<void>((r) => server.listen(path.join(root, 'src/sock'), r));
    // 64 MiB, sparse: reading it whole would be the daemon's memory, not the model's.
    fs.closeSync(fs.openSync(path.join(root, 'huge.log'), 'w'));
    fs.truncateSync(path.join(root, 'huge.log'), 64 * 1024 * 1024);
    fs.writeFileSync(path.join(root, 'big.txt'), 'x'.repeat(300_000));
    // The test's own repository; since issue 10 list_files and grep always name the git dir (none: they refuse).
    scope = { root, maxReadBytes: 100_000, gitDir: path.join(root, '.git') };
  });
  after(() => {
    server.close();
    tmp.cleanup();
  });

  const refused = async (p: Promise<unknown>, re: RegExp): Promise<void> => {
    await assert.rejects(p, (e: unknown) => e instanceof ToolError && re.test(e.message), String(re));
  };

  test('a FIFO is refused by every tool, and nothing waits for a writer or reader', async () => {
    await refused(readFile(scope, { path: 'src/pipe' }), /^src\/pipe is a FIFO \(named pipe\); file tools read and write regular files only$/);
    await refused(readFile(scope, { path: 'src/pipe-link' }), /src\/pipe is a FIFO/);
    await refused(writeFile(scope, { path: 'src/pipe', content: 'x' }), /src\/pipe is a FIFO/);
    await refused(editFile(scope, { path: 'src/pipe', old: 'a', new: 'b' }), /src\/pipe is a FIFO/);
    assert.ok(fs.lstatSync(path.join(root, 'src/pipe')).isFIFO(), 'the FIFO is left alone');
  });

  test('a socket is refused', async () => {
    await refused(readFile(scope, { path: 'src/sock' }), /src\/sock is a socket; file tools/);
    await refused(writeFile(scope, { path: 'src/sock', content: 'x' }), /src\/sock is a socket/);
  });

  test('symlinks out of the tree are refused, devices included', async () => {
    await refused(readFile(scope, { path: 'zero' }), /'zero' goes through a symlink that points outside/);
    await refused(readFile(scope, { path: 'out-link' }), /'out-link' goes through a symlink that points outside/);
    await refused(writeFile(scope, { path: 'out-link', content: 'pwned' }), /points outside/);
    assert.equal(fs.readFileSync(path.join(tmp.dir, 'outside.txt'), 'utf8'), 'outside\n');
  });

  test('a huge file is read only up to the limit', async () => {
    await refused(readFile(scope, { path: 'huge.log' }), /huge\.log is a binary file/);
    const text = await readFile(scope, { path: 'big.txt' });
    assert.match(text, /\[… 200000 more bytes not shown\]/);
    assert.ok(text.length < 110_000);
  });

  test('grep and list_files finish with a FIFO and a socket in the tree', async () => {
    assert.match(await grep(scope, { pattern: 'export' }), /src\/a\.ts:1:export const a = 1;/);
    const listed = await listFiles(scope, { pattern: 'src/**' });
    assert.match(listed, /src\/a\.ts/);
  });

  test('regular files still read, write and edit', async () => {
    assert.match(await readFile(scope, { path: 'src/a.ts' }), /export const a = 1;/);
    await writeFile(scope, { path: 'src/new/b.ts', content: 'export const b = 2;\n' });
    assert.equal(fs.readFileSync(path.join(root, 'src/new/b.ts'), 'utf8'), 'export const b = 2;\n');
    await writeFile(scope, { path: 'src/new/b.ts', content: 'short\n' });
    assert.equal(fs.readFileSync(path.join(root, 'src/new/b.ts'), 'utf8'), 'short\n', 'a rewrite truncates');
    await editFile(scope, { path: 'src/a.ts', old: '= 1', new: '= 42' });
    assert.equal(fs.readFileSync(path.join(root, 'src/a.ts'), 'utf8'), 'export const a = 42;\n');
    await refused(editFile(scope, { path: 'src/missing.ts', old: 'a', new: 'b' }), /no such file \(use write_file to create it\)/);
    await refused(readFile(scope, { path: 'src' }), /src is a folder; use list_files/);
  });

  test('a .git file planted after the worktree was made cannot point grep and list_files at another repository', async () => {
    const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } });
    const repo = path.join(tmp.dir, 'user-repo');
    fs.mkdirSync(repo);
    git(repo, 'init', '-q');
    fs.writeFileSync(path.join(repo, 'app.js'), 'export const app = 1;\n');
    git(repo, 'add', '-A');
    git(repo, '-c', 'user.email=t@e', '-c', 'user.name=T', 'commit', '-qm', 'one');
    const wt = path.join(tmp.dir, 'task-wt');
    git(repo, 'worktree', 'add', '-q', wt);
    const gitDir = worktreeGitDir(wt);
    assert.ok(gitDir && fs.existsSync(path.join(gitDir, 'commondir')), String(gitDir));
    // Another repository with a secret, and a git dir made by a sandboxed command that points at it.
    const other = path.join(tmp.dir, 'other-repo');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'secret.txt'), 'OTHER-REPO-CANARY\n');
    const evil = path.join(wt, 'evil-gitdir');
    git(wt, 'init', '-q', '--bare', evil);
    git(evil, 'config', 'core.bare', 'false');
    git(evil, 'config', 'core.worktree', other);
    fs.writeFileSync(path.join(wt, '.git'), `gitdir: ${evil}\n`);
    // The control: git left to discover the repository from the tree follows the planted .git.
    assert.match(git(wt, 'ls-files', '--others', '--exclude-standard'), /secret\.txt/, 'the control: without the git dir named, git follows the planted .git');
    // Without a git dir the daemon made, the tools refuse rather than discover one.
    const planted: FileScope = { root: wt, maxReadBytes: 100_000 };
    await assert.rejects(listFiles(planted, { pattern: '**' }), /no git dir the daemon made/);
    const pinned: FileScope = { root: wt, maxReadBytes: 100_000, gitDir };
    assert.match(await grep(pinned, { pattern: 'OTHER-REPO-CANARY' }), /no match/);
    assert.match(await grep(pinned, { pattern: 'export const app' }), /app\.js:1:/);
    const listed = await listFiles(pinned, { pattern: '**' });
    assert.match(listed, /^app\.js$/m);
    assert.doesNotMatch(listed, /secret\.txt/);
  });
});
