// The sandbox for real: bubblewrap runs the commands; skipped (with the reason) only where bwrap is absent.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { detectSandbox, runSandboxed, sandboxEnv, sandboxLayer, type SandboxRunOptions, type SandboxStatus } from '../../src/policy/sandbox.js';
import { makeContext } from './policy-context.js';

describe('sandbox (bubblewrap)', () => {
  let status: SandboxStatus;
  let base: string;
  let worktree: string;
  let home: string;
  let kairosHome: string;
  let outside: string;
  let server: net.Server;
  let port = 0;
  let opts: SandboxRunOptions;

  before(async () => {
    status = detectSandbox();
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-sandbox-'));
    worktree = path.join(base, 'worktree');
    home = path.join(base, 'home');
    kairosHome = path.join(base, 'kairos-home');
    outside = path.join(base, 'outside');
    for (const d of [worktree, path.join(home, '.ssh'), path.join(home, '.aws'), kairosHome, outside]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(home, '.ssh/id_rsa'), 'FAKE-PRIVATE-KEY-MATERIAL\n');
    fs.writeFileSync(path.join(home, '.aws/credentials'), 'aws_secret_access_key=FAKE\n');
    fs.writeFileSync(path.join(kairosHome, 'kairos.db'), 'state');
    fs.writeFileSync(path.join(worktree, 'readme.txt'), 'hello from the worktree\n');
    server = net.createServer((s) => s.end('CONNECTED\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
    opts = { worktree, home, kairosHome, timeoutMs: 15_000, outputLimit: 10_000, maxProcesses: 64, status, env: { ...process.env, HOME: home } };
  });
  after(() => {
    server.close();
    fs.rmSync(base, { recursive: true, force: true });
  });

  const needBwrap = (t: { skip(msg: string): void }): boolean => {
    if (status.available) return true;
    t.skip(`bubblewrap not usable here: ${status.detail}`);
    return false;
  };

  test('detectSandbox reports a backend or says how to fix it', () => {
    assert.ok(status.available ? status.backend !== 'none' : /install|namespace|not present|supported/.test(status.detail), status.detail);
  });

  test('the sandbox runs a command in the worktree and reads it', async (t) => {
    if (!needBwrap(t)) return;
    const r = await runSandboxed('pwd; cat readme.txt', opts);
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, new RegExp(worktree));
    assert.match(r.output, /hello from the worktree/);
  });

  test('the host network, even 127.0.0.1, is unreachable', async (t) => {
    if (!needBwrap(t)) return;
    // The same probe outside the sandbox connects, so a failure inside is the sandbox's doing.
    const probe = `node -e "const s=require('net').connect(${port},'127.0.0.1');s.on('data',d=>{process.stdout.write(String(d));process.exit(0)});s.on('error',e=>{console.log('ERR',e.code);process.exit(3)})"`;
    const { exec } = await import('node:child_process');
    const { promisify } = await import('node:util');
    assert.match((await promisify(exec)(probe)).stdout, /CONNECTED/);
    const r = await runSandboxed(probe, opts);
    assert.equal(r.exitCode, 3, r.output);
    assert.doesNotMatch(r.output, /CONNECTED/);
  });

  test('writing outside the worktree fails; writing inside works', async (t) => {
    if (!needBwrap(t)) return;
    const r = await runSandboxed(`echo pwned > ${outside}/x.txt; echo rc=$?; echo ok > made.txt; echo tmp > /tmp/t && cat /tmp/t`, opts);
    assert.equal(fs.existsSync(path.join(outside, 'x.txt')), false);
    assert.match(r.output, /rc=[1-9]/);
    assert.equal(fs.readFileSync(path.join(worktree, 'made.txt'), 'utf8'), 'ok\n');
    assert.match(r.output, /tmp/);
  });

  test('~/.ssh, ~/.aws and $KAIROS_HOME are hidden', async (t) => {
    if (!needBwrap(t)) return;
    const r = await runSandboxed(`cat ${home}/.ssh/id_rsa; cat ~/.aws/credentials; ls -A ${kairosHome}; echo done`, opts);
    assert.doesNotMatch(r.output, /FAKE-PRIVATE-KEY-MATERIAL|aws_secret_access_key|kairos\.db/);
    assert.match(r.output, /done/);
  });

  // Was a deny-list of secret-looking names (SAFE=yes passed); issue 10 asks for an allow-list, so an
  // unknown variable no longer reaches the command unless the policy names it.
  test('only allow-listed environment variables reach the command', async (t) => {
    if (!needBwrap(t)) return;
    const env = { PATH: process.env.PATH, ANTHROPIC_API_KEY: 'sk-ant-fake', MY_TOKEN: 'tok', SAFE: 'yes', LANG: 'C.UTF-8', LC_ALL: 'C', HOME: '/somewhere/else' };
    const r = await runSandboxed('env', { ...opts, env });
    assert.match(r.output, /^LANG=C\.UTF-8$/m);
    assert.match(r.output, /^LC_ALL=C$/m);
    assert.match(r.output, new RegExp(`^HOME=${home}$`, 'm'));
    assert.match(r.output, /^TMPDIR=\/tmp$/m);
    assert.doesNotMatch(r.output, /sk-ant-fake|MY_TOKEN|SAFE|somewhere/);
    const named = await runSandboxed('env', { ...opts, env, settings: { env: ['SAFE', 'MY_*'] } });
    assert.match(named.output, /^SAFE=yes$/m);
    assert.match(named.output, /^MY_TOKEN=tok$/m, 'a prefix the policy names passes');
    assert.doesNotMatch(named.output, /sk-ant-fake/);
    assert.deepEqual(Object.keys(sandboxEnv({ GITHUB_TOKEN: 'x', LANG: 'C' }, { home: '/h' })).sort(), ['GIT_OPTIONAL_LOCKS', 'GIT_TERMINAL_PROMPT', 'HOME', 'LANG', 'TMPDIR']);
  });

  test('the time limit kills the whole process tree', async (t) => {
    if (!needBwrap(t)) return;
    const r = await runSandboxed('sleep 30 & sleep 30; echo finished', { ...opts, timeoutMs: 500, killGraceMs: 200 });
    assert.equal(r.limit, 'time');
    assert.doesNotMatch(r.output, /finished/);
  });

  test('output beyond the limit keeps head and tail', async (t) => {
    if (!needBwrap(t)) return;
    const r = await runSandboxed('echo FIRST; seq 1 100000; echo LAST', { ...opts, outputLimit: 200 });
    assert.match(r.output, /^FIRST/);
    assert.match(r.output, /LAST\n$/);
    assert.ok(r.omitted > 0);
    assert.ok(r.output.length < 400);
  });

  test('the process-count limit stops a fork storm', async (t) => {
    if (!needBwrap(t)) return;
    const r = await runSandboxed('for i in $(seq 1 60); do sleep 20 & done; wait; echo finished', { ...opts, maxProcesses: 10, timeoutMs: 15_000 });
    assert.doesNotMatch(r.output, /finished/);
    // Root is exempt from RLIMIT_NPROC, so there the watchdog stops it; as a user, fork fails first.
    if (process.getuid?.() === 0) assert.equal(r.limit, 'processes');
    else assert.ok(r.limit === 'processes' || /fork/i.test(r.output), r.output);
  });

  test('without a sandbox an agent command asks for approval instead of running', () => {
    const ctx = makeContext({ sandbox: { backend: 'none', available: false, detail: 'bubblewrap is not installed' } });
    const v = sandboxLayer({ repo: '/r', origin: 'agent', action: { type: 'tool', call: { tool: 'Bash', command: 'npm test' } } }, ctx);
    assert.equal(v.decision, 'ask');
    assert.match(v.decision === 'ask' ? v.reason : '', /no sandbox available: approve to run unsandboxed/);
    const withBox = sandboxLayer({ repo: '/r', origin: 'agent', action: { type: 'tool', call: { tool: 'Bash', command: 'npm test' } } }, makeContext());
    assert.equal(withBox.decision, 'allow');
  });

  test('runSandboxed refuses to run when no sandbox is available', async () => {
    const r = await runSandboxed('echo hi', { ...opts, status: { backend: 'none', available: false, detail: 'none here' } });
    assert.match(r.spawnError ?? '', /no sandbox available/);
    assert.equal(r.output, '');
  });
});
