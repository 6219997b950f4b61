import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openForReading } from '../../src/report/show-diff.js';

/** A PATH holding only the programs given (real scripts, using shell builtins only), so what openForReading finds is exactly these. */
function pathWith(programs: Record<string, string>): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-opener-'));
  for (const [name, body] of Object.entries(programs)) fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return { dir, env: { PATH: dir, DISPLAY: ':99' } };
}

test('a working opener opens the file and says with what', { skip: process.platform !== 'linux' }, async () => {
  const { dir, env } = pathWith({ 'xdg-open': `printf '%s' "$1" > "\${0%/*}/got"` });
  try {
    const r = await openForReading('/tmp/x.diff', { env, platform: 'linux' });
    assert.deepEqual(r, { opened: true, via: 'xdg-open' });
    assert.equal(fs.readFileSync(path.join(dir, 'got'), 'utf8'), '/tmp/x.diff');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an opener that fails falls back to a terminal running less; with neither, the answer says why', { skip: process.platform !== 'linux' }, async () => {
  const a = pathWith({ 'xdg-open': 'exit 3', 'x-terminal-emulator': `printf '%s ' "$@" > "\${0%/*}/got"`, less: 'exit 0' });
  try {
    assert.deepEqual(await openForReading('/tmp/y.diff', { env: a.env, platform: 'linux' }), { opened: true, via: 'a terminal (less)' });
    assert.equal(fs.readFileSync(path.join(a.dir, 'got'), 'utf8'), '-e less -R /tmp/y.diff ');
  } finally {
    fs.rmSync(a.dir, { recursive: true, force: true });
  }
  const b = pathWith({ 'xdg-open': 'exit 3' });
  try {
    assert.deepEqual(await openForReading('/tmp/z.diff', { env: b.env, platform: 'linux' }), { opened: false, why: 'xdg-open failed (exit code 3); no x-terminal-emulator' });
    assert.deepEqual(await openForReading('/tmp/z.diff', { env: { PATH: b.dir }, platform: 'linux' }), { opened: false, why: 'xdg-open failed (exit code 3); no display for a terminal' });
  } finally {
    fs.rmSync(b.dir, { recursive: true, force: true });
  }
  const none = await openForReading('/tmp/z.diff', { env: { PATH: '/nonexistent' }, platform: 'linux' });
  assert.equal(none.opened, false);
  assert.match((none as { why: string }).why, /no xdg-open on PATH/);
});

test('an opener still running after the wait is taken as showing the file (some stay open with the viewer)', { skip: process.platform !== 'linux' }, async () => {
  const { dir, env } = pathWith({ 'xdg-open': 'exec /bin/sleep 3' });
  try {
    assert.deepEqual(await openForReading('/tmp/w.diff', { env, platform: 'linux', waitMs: 300 }), { opened: true, via: 'xdg-open' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
