import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeHome, kairos } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { openDb } from '../../src/store/db.js';
import { EventStore } from '../../src/store/event-store.js';

/** One line naming the file and the fix, and nothing that looks like a stack trace. */
function assertOneLineAdvice(stderr: string, file: string): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${stderr}`);
  assert.ok(lines[0]!.includes(file), 'names the file');
  assert.match(lines[0]!, /is damaged \(.+\); move it aside/);
  assert.ok(lines[0]!.includes(`mv ${file} ${file}.broken`), 'says the command that moves it aside');
  assert.doesNotMatch(stderr, /\n\s+at |SqliteError|node:internal/);
}

describe('a damaged kairos.db at start (real CLI)', () => {
  const repo = makeRepo();
  const homes: Array<ReturnType<typeof makeHome>> = [];
  after(() => {
    repo.cleanup();
    homes.forEach((h) => h.cleanup());
  });

  test('not a database: kairos run exits non-zero with one line; listings say the same', () => {
    const h = makeHome('triggers: []\n');
    homes.push(h);
    const file = path.join(h.home, 'kairos.db');
    fs.writeFileSync(file, Buffer.alloc(16_384, 0x5a));
    const run = kairos(['run', '--repo', repo.dir], h.env);
    assert.equal(run.code, 1);
    assertOneLineAdvice(run.stderr.replace(/^\{.*\}\n/gm, ''), file);
    assert.match(run.stderr, /file is not a database/);
    const events = kairos(['events'], h.env);
    assert.equal(events.code, 1);
    assertOneLineAdvice(events.stderr, file);
    assert.equal(fs.readFileSync(file).length, 16_384, 'the damaged file is left as it was, for inspection');
  });

  test('a real store with a corrupt schema page: the same, and kairos start reports the exit code', () => {
    const h = makeHome('triggers: []\n');
    homes.push(h);
    const file = path.join(h.home, 'kairos.db');
    const db = openDb(file);
    new EventStore(db).appendMany([{ type: 'manual', repo: repo.dir, at: new Date().toISOString(), origin: 'user', data: {} }]);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    // Page 1 past the 100-byte file header is the schema table: scribble over it.
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(3996, 0xa7), 0, 3996, 100);
    fs.closeSync(fd);
    const run = kairos(['run', '--repo', repo.dir], h.env);
    assert.equal(run.code, 1);
    assertOneLineAdvice(run.stderr.replace(/^\{.*\}\n/gm, ''), file);
    assert.match(run.stderr, /malformed/);
    const start = kairos(['start', '--repo', repo.dir], h.env);
    assert.notEqual(start.code, 0);
    assert.match(start.stderr, /the daemon exited during start \(code 1\)/);
    assert.ok(start.stderr.includes(`mv ${file} ${file}.broken`));
  });
});
