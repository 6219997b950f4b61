import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCommand } from '../../src/pipeline/run-command.js';
import { BoundedOutput } from '../../src/policy/bounded-output.js';
import { tempDir } from '../support/temp.js';
import { isAlive } from '../support/process.js';

const tmp = tempDir('kairos-cmd-');
after(() => tmp.cleanup());
const base = { cwd: tmp.dir, timeoutMs: 30_000, outputLimit: 10_000 };

describe('runCommand', () => {
  test('captures exit code and interleaved output', async () => {
    const r = await runCommand('echo out; echo err >&2; exit 3', base);
    assert.equal(r.exitCode, 3);
    assert.match(r.output, /out/);
    assert.match(r.output, /err/);
    assert.equal(r.timedOut, false);
  });

  test('keeps head and tail of huge output within the limit', async () => {
    const r = await runCommand('echo FIRST; yes middle | head -c 5000000; echo; echo LAST', { ...base, outputLimit: 2000 });
    assert.equal(r.exitCode, 0);
    assert.ok(r.output.length < 2200, `output kept ${r.output.length} chars`);
    assert.match(r.output, /^FIRST/);
    assert.match(r.output, /LAST\n$/);
    assert.match(r.output, /characters omitted/);
  });

  test('a timeout kills the whole process group, including background children', async () => {
    const pidFile = path.join(tmp.dir, 'child.pid');
    const r = await runCommand(`sleep 300 & echo $! > ${pidFile}; wait`, { ...base, timeoutMs: 300, killGraceMs: 200 });
    assert.equal(r.timedOut, true);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    // Killed is not yet reaped: wait (boundedly) for the kernel to let it go, rather than guessing a delay.
    const until = Date.now() + 10_000;
    while (isAlive(pid) && Date.now() < until) await new Promise((res) => setTimeout(res, 20));
    assert.equal(isAlive(pid), false, 'the background sleep is gone too');
  });

  test('runs in the given folder with the given environment', async () => {
    const r = await runCommand('pwd; echo "$KAIROS_X"', { ...base, env: { ...process.env, KAIROS_X: 'yes' } });
    assert.equal(r.output, `${tmp.dir}\nyes\n`);
  });
});

describe('BoundedOutput', () => {
  test('keeps everything while under the limit', () => {
    const b = new BoundedOutput(10);
    b.push('abc');
    b.push('def');
    assert.equal(b.toString(), 'abcdef');
    assert.equal(b.omittedBytes, 0);
  });
  test('drops the middle and counts it', () => {
    const b = new BoundedOutput(3);
    for (const c of 'abcdefghij') b.push(c);
    assert.equal(b.omittedBytes, 4);
    assert.equal(b.toString(), 'abc\n… 4 characters omitted …\nhij');
  });
});
