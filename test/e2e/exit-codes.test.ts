/**
 * The daemon's exit code tells a service manager whether to restart it (systemd Restart=on-failure):
 * a crash must never exit 0. The real runDaemon runs in a child process, which then throws (or rejects)
 * where nothing catches it, the way a bug would.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { makeHome } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';

const mainUrl = new URL('../../daemon/main.js', import.meta.url).href;
const fromSource = import.meta.url.endsWith('.ts');

function runDaemonThen(home: string, repo: string, env: NodeJS.ProcessEnv, fault: string): Promise<{ code: number | null; stderr: string }> {
  const code = `
    const { runDaemon } = await import(${JSON.stringify(mainUrl)});
    const { callDaemon } = await import(${JSON.stringify(new URL('../../src/cli/control-client.js', import.meta.url).href)});
    const running = runDaemon({ home: ${JSON.stringify(home)}, repos: [${JSON.stringify(repo)}], env: process.env, verbose: false });
    // Once it answers on its socket, the fault happens where no code catches it.
    for (;;) { try { await callDaemon(${JSON.stringify(home)}, 'status', {}, 1000); break; } catch { await new Promise((r) => setTimeout(r, 100)); } }
    setTimeout(() => { ${fault} }, 10);
    process.exitCode = await running;`;
  const p = spawn(process.execPath, [...(fromSource ? ['--import', 'tsx'] : []), '--input-type=module', '-e', code], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => p.on('exit', (c) => resolve({ code: c, stderr })));
}

describe('exit codes (real daemon in a child process)', () => {
  const repo = makeRepo();
  const homes: Array<ReturnType<typeof makeHome>> = [];
  after(() => {
    repo.cleanup();
    homes.forEach((h) => h.cleanup());
  });

  test('an uncaught exception stops the daemon cleanly and exits 1, not 0', async () => {
    const h = makeHome('triggers: []\n');
    homes.push(h);
    const r = await runDaemonThen(h.home, repo.dir, h.env, "throw new Error('injected fault')");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /stopped: uncaught exception: injected fault/);
  });

  test('an unhandled promise rejection: the same', async () => {
    const h = makeHome('triggers: []\n');
    homes.push(h);
    const r = await runDaemonThen(h.home, repo.dir, h.env, "void Promise.reject(new Error('rejected fault'))");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /stopped: unhandled promise rejection: rejected fault/);
  });

  test('a requested stop with nothing held exits 0', async () => {
    const h = makeHome('triggers: []\n');
    homes.push(h);
    const r = await runDaemonThen(h.home, repo.dir, h.env, 'process.kill(process.pid, "SIGTERM")');
    assert.equal(r.code, 0, r.stderr);
  });
});
