import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb } from '../../src/store/db.js';

test('openDb creates a WAL store with the core schema and is idempotent on reopen', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-db-'));
  try {
    const file = path.join(dir, 'k.db');
    const db = openDb(file);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as { name: string }[]).map((r) => r.name);
    for (const t of ['events', 'batches', 'batch_events', 'tasks', 'repos', 'cron_runs']) assert.ok(tables.includes(t), t);
    db.close();
    const again = openDb(file);
    const n = again.prepare('SELECT count(*) AS n FROM schema_migrations WHERE id = 1').get() as { n: number };
    assert.equal(n.n, 1);
    again.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
