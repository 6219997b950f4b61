// The default-deny mount table for real: a command in bubblewrap lists what it can see, and every
// private thing around it is absent. Skipped (with the reason) only where bwrap is absent.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { detectSandbox, runSandboxed, type SandboxRunOptions, type SandboxStatus } from '../../src/policy/sandbox.js';
import { explainSandbox } from '../../src/policy/sandbox/explain.js';
import { REPO_ROOT } from '../support/paths.js';

/**
 * The world lives under the project's test-output/ folder, not /tmp or /var/tmp: the sandbox puts
 * private tmpfs on those, so a canary there would be "absent" whatever the mount table said. A
 * control (a folder the policy names) proves this place is reachable when it is allowed.
 */
describe('sandbox mount table (bubblewrap)', () => {
  let status: SandboxStatus;
  let world: string;
  let home: string;
  let repo: string;
  let worktree: string;
  let other: string;
  let sock: string;
  let server: net.Server;
  let opts: SandboxRunOptions;
  const hostTmpCanary = path.join(os.tmpdir(), `kairos-host-tmp-canary-${process.pid}`);
  const CANARY = 'CANARY-8d1f0c';
  const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } });

  before(async () => {
    status = detectSandbox();
    fs.mkdirSync(path.join(REPO_ROOT, 'test-output'), { recursive: true });
    world = fs.realpathSync(fs.mkdtempSync(path.join(REPO_ROOT, 'test-output', 'sandbox-world-')));
    home = path.join(world, 'home');
    for (const d of ['.config/x', '.cargo', '.ssh']) fs.mkdirSync(path.join(home, d), { recursive: true });
    fs.writeFileSync(path.join(home, '.config/x/token'), `token ${CANARY}-config\n`);
    fs.writeFileSync(path.join(home, '.cargo/credentials.toml'), `[registry]\ntoken = "${CANARY}-cargo"\n`);
    fs.writeFileSync(path.join(home, '.ssh/id_ed25519'), `${CANARY}-ssh\n`);
    other = path.join(world, 'other-repo');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'secret.txt'), `${CANARY}-other-repo\n`);
    fs.mkdirSync(path.join(world, 'allowed'));
    fs.writeFileSync(path.join(world, 'allowed', 'tool.txt'), 'the policy shows this\n');
    fs.writeFileSync(hostTmpCanary, `${CANARY}-host-tmp\n`);

    // The user's repository, with a remote URL holding a credential, node_modules, and a task worktree of it.
    repo = path.join(world, 'repo');
    fs.mkdirSync(repo);
    git(repo, 'init', '-q', '-b', 'main');
    git(repo, 'config', 'user.email', 't@example.com');
    git(repo, 'config', 'user.name', 'T');
    git(repo, 'remote', 'add', 'origin', `https://user:${CANARY}-remote@example.com/r.git`);
    fs.writeFileSync(path.join(repo, 'a.txt'), 'one\n');
    fs.writeFileSync(path.join(repo, '.gitignore'), 'node_modules/\n');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'first');
    fs.mkdirSync(path.join(repo, 'node_modules', 'left-pad'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'node_modules', 'left-pad', 'index.js'), "module.exports = (s) => '  ' + s;\n");
    worktree = path.join(world, 'kairos-home', 'worktrees', 'key', '7');
    git(repo, 'worktree', 'add', '-q', '-b', 'kairos/7', worktree);
    fs.writeFileSync(path.join(worktree, 'a.txt'), 'two\n');

    sock = path.join(world, 'agent.sock');
    server = net.createServer((s) => s.end(`${CANARY}-socket\n`));
    await new Promise<void>((r) => server.listen(sock, r));
    opts = {
      worktree,
      repo,
      home,
      kairosHome: path.join(world, 'kairos-home'),
      timeoutMs: 30_000,
      outputLimit: 100_000,
      status,
      settings: { read: [path.join(world, 'allowed')] },
      env: { PATH: process.env.PATH, LANG: 'C.UTF-8', HOME: home, SSH_AUTH_SOCK: sock, DBUS_SESSION_BUS_ADDRESS: `unix:path=${sock}`, DISPLAY: ':0', KAIROS_CANARY_SECRET: `${CANARY}-env`, GITHUB_TOKEN: `${CANARY}-gh` },
    };
  });
  after(() => {
    server?.close();
    fs.rmSync(world, { recursive: true, force: true });
    fs.rmSync(hostTmpCanary, { force: true });
  });

  const needBwrap = (t: { skip(msg: string): void }): boolean => {
    if (status.available) return true;
    t.skip(`bubblewrap not usable here: ${status.detail}`);
    return false;
  };

  /** Runs a shell snippet; each probe prints "<name>: <what it saw>". */
  const probe = async (script: string): Promise<string> => {
    const r = await runSandboxed(script, opts);
    assert.equal(r.spawnError, undefined, r.spawnError);
    return r.output;
  };

  test('a command sees the system, the worktree and what the policy names; nothing private', async (t) => {
    if (!needBwrap(t)) return;
    const out = await probe(
      [
        'echo "top: $(ls -A / | tr "\\n" " ")"',
        'echo "home: [$(ls -A "$HOME" | tr "\\n" " ")] HOME=$HOME"',
        `cat ${home}/.config/x/token ${home}/.cargo/credentials.toml ${home}/.ssh/id_ed25519 2>&1 | sed "s/^/home files: /"`,
        `cat ${other}/secret.txt 2>&1 | sed "s/^/other repo: /"`,
        `ls -A /root 2>&1 | sed "s/^/slash-root: /"`,
        'ls -A /home 2>&1 | sed "s/^/slash-home: /"',
        `ls -l ${sock} 2>&1 | sed "s/^/socket: /"`,
        `node -e "require('net').connect('${sock}').on('data',d=>console.log('socket data:',String(d).trim())).on('error',e=>console.log('socket connect:',e.code))"`,
        'ls -A /run /var/run /sys 2>&1 | sed "s/^/run-sys: /"',
        'echo "proc: $(ls /proc | grep -c "^[0-9]") pids"; echo "proc1: $(tr "\\0" " " < /proc/1/cmdline | cut -c1-40)"',
        `cat ${hostTmpCanary} 2>&1 | sed "s/^/host tmp: /"`,
        'cat /etc/shadow /etc/gshadow /etc/npmrc 2>&1 | sed "s/^/etc secrets: /"',
        'ls /etc/ssl/private /etc/pki/tls/private 2>&1 | sed "s/^/tls keys: /"',
        'ls /etc/ssl/certs | head -1 | sed "s/^/tls roots: /"',
        `echo "global npmrc: $(cat ${path.join(path.dirname(path.dirname(fs.realpathSync(process.execPath))), 'etc', 'npmrc')} 2>/dev/null | wc -c)"`,
        'echo "passwd lines: $(wc -l < /etc/passwd)"',
        `cat ${path.join(world, 'allowed', 'tool.txt')} | sed "s/^/policy read: /"`,
        'env | sed "s/^/env: /"',
        'echo made > made-in-sandbox.txt && echo "worktree write: ok"',
        `echo x > ${path.join(world, 'allowed', 'nope.txt')} 2>/dev/null && echo "policy read write: ok" || echo "policy read write: refused"`,
        `echo x > /tmp/in-sandbox-${process.pid} && echo "tmp write: ok"`,
        // The user's repository path exists only as a parent of its bound .git: read-only, not a private copy.
        `{ echo x > ${repo}/planted; } 2>&1 | sed "s/^/repo parent: /"`,
        '{ touch /planted; } 2>&1 | sed "s/^/root: /"',
      ].join('\n'),
    );
    const line = (name: string): string => out.split('\n').filter((l) => l.startsWith(`${name}:`)).join('\n');
    assert.doesNotMatch(out, new RegExp(CANARY), `a canary leaked:\n${out}`);
    const top = line('top').replace(/^top: /, '').trim().split(/\s+/).sort();
    for (const name of ['usr', 'etc', 'tmp', 'dev', 'proc']) assert.ok(top.includes(name), `/${name} is there: ${top.join(' ')}`);
    for (const name of ['sys', 'run', 'boot', 'mnt', 'opt', 'srv', 'media']) assert.ok(!top.includes(name), `/${name} is not there: ${top.join(' ')}`);
    assert.match(line('home'), new RegExp(`^home: \\[\\] HOME=${home}$`), 'an empty home at the same path');
    assert.match(line('home files'), /No such file/);
    assert.match(line('other repo'), /No such file/);
    assert.match(line('slash-root'), /No such file/);
    assert.match(line('slash-home'), /No such file|^slash-home: (\S*home\S*\s*)?$/);
    assert.match(line('socket'), /No such file/);
    assert.match(line('socket connect'), /ENOENT/);
    assert.doesNotMatch(out, /socket data:/);
    assert.equal(line('run-sys').split('\n').filter((l) => !/No such file/.test(l)).length, 0, line('run-sys'));
    const pids = Number(/proc: (\d+) pids/.exec(out)?.[1]);
    assert.ok(pids > 0 && pids < 10, `only the sandbox's own processes: ${pids}`);
    const hostInit = fs.readFileSync('/proc/1/cmdline', 'utf8').replace(/\0/g, ' ').slice(0, 40);
    assert.notEqual(line('proc1').replace(/^proc1: /, ''), hostInit.trim(), "the host's pid 1 is not visible");
    assert.match(line('host tmp'), /No such file/);
    assert.match(line('etc secrets'), /No such file/);
    assert.equal(line('etc secrets').split('\n').length, 3);
    assert.equal(line('tls keys').split('\n').filter((l) => !/No such file/.test(l)).length, 0, line('tls keys'));
    assert.match(out, /^global npmrc: 0$/m, "npm's global config (registry tokens) is shown empty");
    if (fs.existsSync('/etc/ssl/certs')) assert.match(line('tls roots'), /^tls roots: \S/, 'the TLS roots are there');
    assert.ok(Number(/passwd lines: (\d+)/.exec(out)?.[1]) <= 3, 'a made-up passwd: this user, root, nobody');
    assert.match(line('policy read'), /the policy shows this/, 'the control: this folder is reachable when the policy names it');
    assert.match(out, /policy read write: refused/);
    assert.equal(fs.existsSync(path.join(world, 'allowed', 'nope.txt')), false);
    const env = line('env');
    assert.match(env, /^env: PATH=/m);
    assert.match(env, new RegExp(`^env: HOME=${home}$`, 'm'));
    assert.doesNotMatch(env, /SSH_AUTH_SOCK|DBUS_SESSION_BUS_ADDRESS|DISPLAY|GITHUB_TOKEN|KAIROS_/);
    assert.match(out, /worktree write: ok/);
    assert.equal(fs.readFileSync(path.join(worktree, 'made-in-sandbox.txt'), 'utf8'), 'made\n');
    assert.match(out, /tmp write: ok/);
    assert.equal(fs.existsSync(`/tmp/in-sandbox-${process.pid}`), false, "the sandbox's /tmp is private");
    // Whatever the sandbox shows there, nothing reaches the host's folder. (A checkout under /tmp
    // sits inside the sandbox's private /tmp, where the write lands in the throwaway copy.)
    assert.equal(fs.existsSync(path.join(repo, 'planted')), false, 'a write next to the repository reached the host');
    if (!/^\/tmp(\/|$)/.test(repo)) assert.match(line('repo parent'), /Read-only file system/);
    assert.match(out, /^root: .*Read-only file system/m);
  });

  test('git works read-only on the repository data, without its remotes or credentials', async (t) => {
    if (!needBwrap(t)) return;
    const common = fs.realpathSync(path.join(repo, '.git'));
    const out = await probe(
      [
        'git status --porcelain | sed "s/^/status: /"',
        'git log --format=%s | sed "s/^/log: /"',
        'git config --list | sed "s/^/config: /"',
        `touch ${common}/planted 2>&1 | sed "s/^/plant: /"`,
        `{ echo "[core] fsmonitor = x" >> ${common}/config; } 2>&1 | sed "s/^/plant config: /"`,
        'git commit -qam "from the sandbox" 2>&1 | head -1 | sed "s/^/commit: /"',
      ].join('\n'),
    );
    assert.match(out, /^status: {2}?M a\.txt$/m, out);
    assert.match(out, /^log: first$/m);
    assert.doesNotMatch(out, /remote\.origin|CANARY|example\.com/, out);
    assert.match(out, /^plant: .*(Read-only|Permission denied)/m);
    assert.match(out, /^plant config: .*(Read-only|Permission denied)/m);
    assert.match(out, /^commit: /m, 'a commit fails');
    assert.equal(fs.existsSync(path.join(common, 'planted')), false);
    assert.doesNotMatch(fs.readFileSync(path.join(common, 'config'), 'utf8'), /fsmonitor/);
    assert.equal(git(repo, 'log', '--all', '--format=%s').trim().split('\n').sort().join(','), 'first');
  });

  test("the repository's node_modules is there, read-only", async (t) => {
    if (!needBwrap(t)) return;
    const out = await probe(
      [
        `node -e "console.log('require:', require('left-pad')('x'))"`,
        '{ echo x > node_modules/left-pad/index.js; } 2>&1 | sed "s/^/write: /"',
      ].join('\n'),
    );
    assert.match(out, /require: {3}x/);
    assert.match(out, /^write: .*(Read-only|Permission denied)/m);
    assert.match(fs.readFileSync(path.join(repo, 'node_modules/left-pad/index.js'), 'utf8'), /module\.exports/);
  });

  test('explain --sandbox describes the table the command saw', async (t) => {
    if (!needBwrap(t)) return;
    const e = explainSandbox({ repo, worktree, home, settings: opts.settings!, status, timeoutMs: 30_000, env: opts.env! });
    const seen = (await probe('ls -A /')).trim().split('\n').sort();
    // Every top-level name the command saw comes from an entry of the table, and nothing it calls hidden is there.
    const fromTable = new Set(e.mounts.map((m) => m.path.split('/')[1]));
    assert.deepEqual(seen.filter((n) => !fromTable.has(n)), [], `seen ${seen.join(' ')}`);
    for (const h of e.hidden) assert.ok(!seen.includes(h.slice(1)), `${h} is listed as hidden but the command saw it`);
    const kinds = new Map(e.mounts.map((m) => [m.path, m.kind]));
    assert.equal(kinds.get(worktree), 'rw');
    assert.equal(kinds.get(home), 'tmpfs');
    assert.equal(kinds.get('/tmp'), 'tmpfs');
    assert.equal(kinds.get(path.join(world, 'allowed')), 'ro');
    assert.equal(kinds.get(fs.realpathSync(path.join(repo, '.git'))), 'ro');
    assert.equal(kinds.get(path.join(worktree, 'node_modules')), 'ro');
    assert.deepEqual([...kinds.entries()].filter(([, k]) => k === 'rw').map(([p]) => p), [worktree], 'the worktree is the only writable host folder');
    assert.ok(!e.mounts.some((m) => m.path === other || m.path.startsWith(other + '/')));
    assert.ok(e.env.passing.includes('PATH') && !e.env.passing.includes('GITHUB_TOKEN') && !e.env.passing.includes('SSH_AUTH_SOCK'));
    assert.equal(e.env.fixed.HOME, home);
  });
});
