import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { openDb, type Db } from '../../src/store/db.js';
import { allMigrations } from '../../src/store/migrations.js';
import { AuditLog, notApplicable, type AuditStep } from '../../src/policy/audit.js';
import { deny } from '../../src/policy/decision.js';
import { rowHash } from '../../src/store/audit-chain.js';
import '../../src/store/schemas.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** What an attacker with plain SQL does first: Kairos's own append-only guards are triggers, and they can be dropped. */
function dropGuards(db: Db): void {
  db.exec('DROP TRIGGER IF EXISTS audit_append_only; DROP TRIGGER IF EXISTS audit_no_delete;');
}

const reload = (i: number): AuditStep => ({ repo: '/r', origin: 'daemon', action: { type: 'reload', detail: `step ${i}` } });

describe('the audit hash chain', () => {
  let dir: string;
  let db: Db;
  let audit: AuditLog;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-audit-'));
    db = openDb(path.join(dir, 'kairos.db'));
    audit = new AuditLog(db);
    // 3 steps × 8 layers = rows 1–24; step 1's trust row is a deny.
    for (let i = 0; i < 3; i++) audit.record(reload(i), { validate: { decision: 'allow' }, trust: i === 1 ? deny('not trusted') : { decision: 'allow' } });
  });
  afterEach(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('every step writes a row per layer, n/a where nothing was given, linked to the row before', () => {
    const rows = db.prepare('SELECT * FROM audit ORDER BY id').all() as Array<{ id: number; layer: string; verdict: string; final: string; prev_hash: string; hash: string }>;
    assert.equal(rows.length, 24);
    assert.deepEqual(rows.slice(8, 16).map((r) => r.verdict), ['allow', 'deny', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a']);
    assert.ok(rows.slice(8, 16).every((r) => r.final === 'deny'));
    for (let i = 1; i < rows.length; i++) assert.equal(rows[i]!.prev_hash, rows[i - 1]!.hash);
    assert.deepEqual(audit.verify(), { ok: true, rows: 24, head: audit.verify().head });
    assert.equal(audit.verify().head!.last_id, 24);
  });

  test('the table refuses UPDATE and DELETE from ordinary code', () => {
    assert.throws(() => db.prepare("UPDATE audit SET verdict = 'allow' WHERE id = 10").run(), /append-only/);
    assert.throws(() => db.prepare('DELETE FROM audit WHERE id = 10').run(), /pruning the oldest/);
  });

  test('an edited row (deny → allow) is named', () => {
    dropGuards(db);
    db.prepare("UPDATE audit SET verdict = 'allow' WHERE id = 10").run();
    const r = audit.verify();
    assert.equal(r.ok, false);
    assert.deepEqual([r.problem!.kind, r.problem!.id], ['changed', 10]);
    assert.match(r.problem!.message, /row 10 was changed: its content no longer matches its hash/);
  });

  test('an edited row whose hash was recomputed is still named, by the next row', () => {
    dropGuards(db);
    const row = db.prepare('SELECT * FROM audit WHERE id = 10').get() as Record<string, string | number | null>;
    db.prepare("UPDATE audit SET verdict = 'allow', hash = ? WHERE id = 10").run(rowHash({ ...row, verdict: 'allow' } as never, String(row.prev_hash)));
    const r = audit.verify();
    assert.deepEqual([r.problem!.kind, r.problem!.id], ['changed', 10]);
    assert.match(r.problem!.message, /row 10 was changed and its hash recomputed/);
  });

  test('a deleted row in the middle, and deleted rows at the tail, are named', () => {
    dropGuards(db);
    db.prepare('DELETE FROM audit WHERE id = 12').run();
    let r = audit.verify();
    assert.deepEqual([r.problem!.kind, r.problem!.id], ['deleted', 12]);
    assert.match(r.problem!.message, /row 12 was deleted/);

    const fresh = reopenFresh();
    try {
      dropGuards(fresh.db);
      fresh.db.prepare('DELETE FROM audit WHERE id > 20').run();
      r = fresh.audit.verify();
      assert.deepEqual([r.problem!.kind, r.problem!.id], ['deleted', 21]);
      assert.match(r.problem!.message, /rows 21–24 were deleted from the end/);
      // Writing on after a truncation links to the recorded head, so the gap stays visible.
      fresh.audit.record(reload(9), {});
      assert.deepEqual([fresh.audit.verify().problem!.kind, fresh.audit.verify().problem!.id], ['deleted', 21]);
    } finally {
      fresh.close();
    }
  });

  test('an inserted row — with a valid-looking link and hash — is named', () => {
    dropGuards(db);
    const last = db.prepare('SELECT * FROM audit WHERE id = 24').get() as Record<string, string | number | null>;
    const forged = { ...last, verdict: 'allow', reason: 'forged', eval_id: 'forged' };
    db.prepare(
      `INSERT INTO audit (at, repo, task_id, trigger, origin, what, layer, verdict, reason, rule, queued, final, eval_id, prev_hash, hash)
       VALUES (@at, @repo, @task_id, @trigger, @origin, @what, @layer, @verdict, @reason, @rule, @queued, @final, @eval_id, @prev_hash, @hash)`,
    ).run({ ...forged, id: undefined, prev_hash: last.hash, hash: rowHash(forged as never, String(last.hash)) });
    const r = audit.verify();
    assert.deepEqual([r.problem!.kind, r.problem!.id], ['inserted', 25]);
    assert.match(r.problem!.message, /row 25 was inserted: the audit head records the last row written as 24/);
  });

  test('a row inserted in the middle (later ids shifted up) is named', () => {
    dropGuards(db);
    const at5 = db.prepare('SELECT * FROM audit WHERE id = 5').get() as Record<string, string | number | null>;
    // Shift rows 6–24 up by one (from the top, so ids never collide), then put a forged row at 6 linked to row 5.
    for (let id = 24; id >= 6; id--) db.prepare('UPDATE audit SET id = ? WHERE id = ?').run(id + 1, id);
    const forged = { ...at5, reason: 'forged' };
    db.prepare(
      `INSERT INTO audit (id, at, repo, task_id, trigger, origin, what, layer, verdict, reason, rule, queued, final, eval_id, prev_hash, hash)
       VALUES (6, @at, @repo, @task_id, @trigger, @origin, @what, @layer, @verdict, @reason, @rule, @queued, @final, @eval_id, @prev_hash, @hash)`,
    ).run({ ...forged, prev_hash: at5.hash, hash: rowHash(forged as never, String(at5.hash)) });
    db.prepare('UPDATE audit_head SET last_id = 25, count = 25').run();
    const r = audit.verify();
    assert.deepEqual([r.problem!.kind, r.problem!.id], ['inserted', 6]);
    assert.match(r.problem!.message, /row 6 was inserted: row 7 links to the row before it/);
  });

  test('pruning the oldest rows moves the chain start; the rest still verifies', () => {
    assert.equal(audit.prune(9), 8);
    const r = audit.verify();
    assert.equal(r.ok, true, r.problem?.message);
    assert.equal(r.rows, 16);
    assert.equal(r.head!.first_id, 9);
    // A row put back below the start is an insertion.
    dropGuards(db);
    const row = { ...(db.prepare('SELECT * FROM audit WHERE id = 9').get() as object), id: 3 };
    db.prepare(
      `INSERT INTO audit (id, at, repo, task_id, trigger, origin, what, layer, verdict, reason, rule, queued, final, eval_id, prev_hash, hash)
       VALUES (@id, @at, @repo, @task_id, @trigger, @origin, @what, @layer, @verdict, @reason, @rule, @queued, @final, @eval_id, @prev_hash, @hash)`,
    ).run(row);
    assert.deepEqual([audit.verify().problem!.kind, audit.verify().problem!.id], ['inserted', 3]);
  });

  test('the n/a helper keeps its reason', () => {
    assert.deepEqual(notApplicable('why'), { decision: 'n/a', reason: 'why' });
  });

  function reopenFresh(): { db: Db; audit: AuditLog; close(): void } {
    const file = path.join(dir, 'second.db');
    const d = openDb(file);
    const a = new AuditLog(d);
    for (let i = 0; i < 3; i++) a.record(reload(i), { validate: { decision: 'allow' } });
    return { db: d, audit: a, close: () => d.close() };
  }
});

test('rows written before the chain existed are linked by the migration, deterministically', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-audit-mig-'));
  try {
    const hashes: string[][] = [];
    for (const name of ['a.db', 'b.db']) {
      // A store as it was at migration 20, with rows written then (placeholders and all).
      const raw = new Database(path.join(dir, name));
      raw.exec('CREATE TABLE schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      for (const m of allMigrations().filter((m) => m.id <= 20)) {
        raw.exec(m.sql);
        raw.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.id, m.name, '2026-01-01T00:00:00.000Z');
      }
      const ins = raw.prepare("INSERT INTO audit (at, repo, origin, what, layer, verdict, eval_id) VALUES ('2026-01-01T00:00:00.000Z', '/r', 'agent', ?, ?, 'allow', 'e1')");
      for (const layer of ['validate', 'trust', 'gate', 'spend']) ins.run('Bash(ls)', layer);
      raw.prepare('DELETE FROM audit WHERE id = 4').run(); // an id AUTOINCREMENT must not hand out again
      raw.close();
      const db = openDb(path.join(dir, name));
      const audit = new AuditLog(db);
      const r = audit.verify();
      assert.equal(r.ok, true, r.problem?.message);
      assert.equal(r.rows, 3);
      audit.record(reload(0), {});
      const ids = (db.prepare('SELECT id FROM audit ORDER BY id').all() as { id: number }[]).map((x) => x.id);
      assert.deepEqual(ids.slice(0, 4), [1, 2, 3, 5], 'the id sequence survives the table rebuild');
      assert.equal(audit.verify().ok, false, 'id 4 was deleted before the migration and the new row follows it: the gap shows');
      hashes.push((db.prepare('SELECT hash FROM audit WHERE id <= 3 ORDER BY id').all() as { hash: string }[]).map((x) => x.hash));
      db.close();
    }
    assert.deepEqual(hashes[0], hashes[1], 'the same rows chain to the same hashes');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('two processes appending at once never fork the chain', { timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-audit-race-'));
  try {
    const file = path.join(dir, 'kairos.db');
    openDb(file).close();
    const writer = path.join(here, '..', 'support', 'audit-writer.js');
    const run = (label: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const p = spawn(process.execPath, [writer, file, label, '150'], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        p.stderr.on('data', (d) => (err += d));
        p.on('exit', (code) => (code === 0 ? resolve(code) : reject(new Error(`writer ${label} exited ${code}: ${err}`))));
      });
    await Promise.all([run('a'), run('b')]);
    const db = openDb(file);
    try {
      const r = new AuditLog(db).verify();
      assert.equal(r.ok, true, r.problem?.message);
      assert.equal(r.rows, 2 * 150 * 8);
      // Both really wrote while the other did: their evaluations interleave.
      const repos = (db.prepare("SELECT repo FROM audit WHERE layer = 'validate' ORDER BY id").all() as { repo: string }[]).map((x) => x.repo);
      const switches = repos.filter((x, i) => i > 0 && x !== repos[i - 1]).length;
      assert.ok(switches >= 1, 'the writers did not overlap');
    } finally {
      db.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
