import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The process entry (bin/kairos.ts) is the only module that wires the CLI to the daemon. Run past it,
// the CLI module cannot become the daemon and says how to start Kairos instead of failing obscurely.
const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('the CLI module run directly refuses `run` with the way to start Kairos, and starts no daemon', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-entry-'));
  try {
    const r = spawnSync(process.execPath, [path.join(dist, 'src/cli/main.js'), 'run', '--home', home], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^kairos: this entry cannot run the daemon: start Kairos through its bin/);
    assert.match(r.stderr, /kairos service install/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    assert.equal(fs.existsSync(path.join(home, 'kairos.db')), false, 'no store was opened');
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('the former bin (dist/src/cli/main.js, still linked by npx caches made before bin/kairos.js) runs as a program for every other command', () => {
  const r = spawnSync(path.join(dist, 'src/cli/main.js'), ['--version'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
});
