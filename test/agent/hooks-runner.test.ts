import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runHookCommand, type RunHookOptions } from '../../src/agent/hooks/runner.js';

/** The runner against misbehaving real processes: every one of them must come back as a value. */

let dir: string;
before(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-hook-runner-')));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(command: string, extra: Partial<RunHookOptions> = {}) {
  return runHookCommand({ command, stdin: '{"hook_event_name":"PreToolUse"}', cwd: dir, env: process.env, timeoutMs: 10_000, ...extra });
}

describe('runHookCommand', () => {
  test('passes stdin, captures stdout and stderr separately, classifies exit codes', async () => {
    const ok = await run('cat; echo err >&2');
    assert.equal(ok.kind, 'ok');
    assert.equal(ok.stdout, '{"hook_event_name":"PreToolUse"}');
    assert.equal(ok.stderr, 'err\n');

    const block = await run('echo why >&2; exit 2');
    assert.equal(block.kind, 'block');
    assert.equal(block.exitCode, 2);

    const error = await run('exit 7');
    assert.equal(error.kind, 'error');
    assert.equal(error.message, 'exited with code 7');
  });

  test('a flood of output is bounded and does not stop the hook', async () => {
    const r = await run('head -c 5000000 /dev/zero | tr "\\0" x; echo done >&2', { outputLimit: 1000 });
    assert.equal(r.kind, 'ok');
    assert.equal(r.stdoutTruncated, true);
    assert.ok(r.stdout.length < 1200, `kept ${r.stdout.length} characters`);
    assert.equal(r.stderr, 'done\n');
  });

  test('a hook killed by a signal is an error naming the signal', async () => {
    const r = await run('kill -KILL $$');
    assert.equal(r.kind, 'error');
    assert.equal(r.signal, 'SIGKILL');
    assert.match(r.message!, /killed by SIGKILL/);
  });

  test('a hook that closes stdin without reading a large payload is fine', async () => {
    const big = JSON.stringify({ tool_input: { content: 'y'.repeat(2_000_000) } });
    const r = await run('exec 0<&-; echo "{}"', { stdin: big });
    assert.equal(r.kind, 'ok');
    assert.equal(r.stdout.trim(), '{}');
  });

  test('a hook that exits but leaves a child holding its output open still returns its own exit code', async () => {
    const r = await run('sleep 30 & echo started; exit 0');
    assert.equal(r.kind, 'ok');
    assert.equal(r.stdout, 'started\n');
  });

  test('a hook that ignores SIGTERM is killed anyway', async () => {
    const r = await run(`trap '' TERM; while :; do sleep 0.05; done`, { timeoutMs: 300, killGraceMs: 200 });
    assert.equal(r.kind, 'timeout');
    assert.match(r.message!, /did not finish within 0\.3s/);
  });

  test('a hook that cannot start is an error, not an exception', async () => {
    const r = await run('true', { cwd: path.join(dir, 'missing') });
    assert.equal(r.kind, 'error');
    assert.match(r.message!, /could not start/);
  });
});
