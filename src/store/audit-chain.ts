import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';

/**
 * The audit table's hash chain. Every row carries `prev_hash` (the hash of the row before it, or
 * GENESIS for the first) and `hash` (sha256 over its own canonical content and `prev_hash`), and
 * the single `audit_head` row records the chain's ends and length. Rows, their links and the head
 * are written in one IMMEDIATE transaction, so two writers (the daemon, a CLI acting with the
 * daemon down) are serialised by SQLite's write lock and can never both extend the same row.
 *
 * What this guarantees: the audit is tamper-EVIDENT against editing, inserting or deleting rows
 * (middle or tail) with ordinary SQL. It is not tamper-proof: someone with write access to the
 * file who recomputes every hash after the change, and the head, makes a chain that verifies.
 * That is why the head is also written to the daily log at every daemon start and stop
 * (AuditLog.anchor), and `kairos audit verify` checks those anchors (src/cli/audit-anchors.ts): a
 * chain rewritten after an anchor no longer holds it — unless the logs were rewritten too.
 */

export const AUDIT_HASH_VERSION = 'kairos-audit-v1';
export const GENESIS_HASH = createHash('sha256').update(`${AUDIT_HASH_VERSION} genesis`).digest('hex');

/** The columns a row's hash covers, in order. `id` is not among them: positions are checked by the links and the id sequence. */
export const HASHED_COLUMNS = ['at', 'repo', 'task_id', 'trigger', 'origin', 'what', 'layer', 'verdict', 'reason', 'rule', 'queued', 'final', 'eval_id'] as const;

export type HashedRow = { [K in (typeof HASHED_COLUMNS)[number]]: string | number | null };

/** sha256 (hex) of one row's canonical content: a JSON array in a fixed column order, the link last. */
export function rowHash(row: HashedRow, prevHash: string): string {
  const canonical = JSON.stringify([AUDIT_HASH_VERSION, ...HASHED_COLUMNS.map((c) => row[c] ?? null), prevHash]);
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

export interface AuditHead {
  /** The first row the chain starts at (rows before it were pruned on purpose); its prev_hash is first_prev_hash. */
  first_id: number;
  first_prev_hash: string;
  /** The last row written, 0 when none. */
  last_id: number;
  /** How many rows the chain holds from first_id to last_id. */
  count: number;
  /** The last row's hash (GENESIS/first_prev_hash when empty). */
  hash: string;
  updated_at: string;
}

export function readHead(db: Database.Database): AuditHead | undefined {
  return db.prepare<[], AuditHead>('SELECT first_id, first_prev_hash, last_id, count, hash, updated_at FROM audit_head WHERE id = 1').get();
}

/**
 * Links every row that has no hash yet, in id order, after the current head (the migration uses it
 * on the rows written before the chain existed). Run inside a write transaction.
 */
export function chainUnlinkedRows(db: Database.Database, now: string): number {
  const head = readHead(db);
  let prev = head?.hash ?? GENESIS_HASH;
  let lastId = head?.last_id ?? 0;
  let count = head?.count ?? 0;
  const rows = db.prepare<[], HashedRow & { id: number }>("SELECT * FROM audit WHERE hash = '' ORDER BY id").all();
  const link = db.prepare('UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?');
  for (const r of rows) {
    const h = rowHash(r, prev);
    link.run(prev, h, r.id);
    prev = h;
    lastId = r.id;
    count++;
  }
  // An empty table starts its chain at the next id AUTOINCREMENT hands out (ids are never reused).
  const seq = db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").get()?.seq ?? 0;
  const firstId = head?.first_id ?? rows[0]?.id ?? seq + 1;
  db.prepare(
    `INSERT INTO audit_head (id, first_id, first_prev_hash, last_id, count, hash, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET last_id = excluded.last_id, count = excluded.count, hash = excluded.hash, updated_at = excluded.updated_at`,
  ).run(firstId, head?.first_prev_hash ?? GENESIS_HASH, lastId, count, prev, now);
  return rows.length;
}

/** 'rewritten': the chain is consistent but does not hold a head anchored outside the database (the daily log). */
export type ChainProblemKind = 'changed' | 'inserted' | 'deleted' | 'head' | 'rewritten';

export interface ChainProblem {
  kind: ChainProblemKind;
  /** The row the problem is first seen at (for 'deleted': the first missing id). */
  id: number | null;
  message: string;
}

export interface ChainReport {
  ok: boolean;
  /** Rows walked. */
  rows: number;
  head: AuditHead | null;
  /** The first problem, in id order (a tail problem comes last). */
  problem?: ChainProblem;
  /** How many heads anchored outside the database were checked against the chain (see checkAnchors). */
  anchors?: number;
}

type StoredRow = HashedRow & { id: number; prev_hash: string; hash: string };

/**
 * Walks the chain from the head's first row to its last and names the first row that was changed,
 * inserted or deleted. One read transaction, so a writer appending meanwhile is not mistaken for
 * tampering.
 */
export function verifyChain(db: Database.Database): ChainReport {
  return db.transaction((): ChainReport => {
    const head = readHead(db) ?? null;
    const rows = db.prepare<[], StoredRow>('SELECT * FROM audit ORDER BY id').iterate();
    // Returning from inside the for-of closes the statement's cursor before the transaction ends.
    const fail = (n: number, kind: ChainProblemKind, id: number | null, message: string): ChainReport => ({ ok: false, rows: n, head, problem: { kind, id, message } });
    if (!head) {
      const any = db.prepare<[], { id: number }>('SELECT id FROM audit ORDER BY id LIMIT 1').get();
      if (any) return { ok: false, rows: 0, head, problem: { kind: 'head', id: null, message: 'the audit head row is missing (audit_head was deleted): the chain cannot be checked against its recorded end' } };
      return { ok: true, rows: 0, head };
    }
    let expectedPrev = head.first_prev_hash;
    let expectedId = head.first_id;
    let prev: StoredRow | undefined;
    let beforePrevHash: string | undefined;
    let n = 0;
    for (const r of rows) {
      if (r.id < head.first_id) return fail(n, 'inserted', r.id, `row ${r.id} was inserted: the chain starts at row ${head.first_id} (older rows were pruned), so nothing may come before it`);
      if (r.id > head.last_id) return fail(n, 'inserted', r.id, `row ${r.id} was inserted: the audit head records the last row written as ${head.last_id}`);
      if (rowHash(r, r.prev_hash) !== r.hash) return fail(n, 'changed', r.id, `row ${r.id} was changed: its content no longer matches its hash (${describeRow(r)})`);
      if (r.prev_hash !== expectedPrev) {
        if (r.id > expectedId) return fail(n, 'deleted', expectedId, `${span(expectedId, r.id - 1)} deleted: row ${r.id} does not link to row ${prev ? prev.id : 'the start of the chain'}`);
        if (prev && r.prev_hash === beforePrevHash) return fail(n, 'inserted', prev.id, `row ${prev.id} was inserted: row ${r.id} links to the row before it`);
        if (prev) return fail(n, 'changed', prev.id, `row ${prev.id} was changed and its hash recomputed (or rows after it were deleted and the ids renumbered): row ${r.id} does not link to it`);
        return fail(n, 'changed', r.id, `row ${r.id} does not link to the start of the chain recorded in the audit head`);
      }
      if (r.id !== expectedId) return fail(n, 'deleted', expectedId, `${span(expectedId, r.id - 1)} deleted (the ids jump from ${expectedId - 1} to ${r.id})`);
      beforePrevHash = expectedPrev;
      expectedPrev = r.hash;
      expectedId = r.id + 1;
      prev = r;
      n++;
    }
    const lastId = prev?.id ?? head.first_id - 1;
    if (lastId < head.last_id) {
      return { ok: false, rows: n, head, problem: { kind: 'deleted', id: lastId + 1, message: `${span(lastId + 1, head.last_id)} deleted from the end: the audit head records ${head.count} rows up to row ${head.last_id}, the table ends at ${lastId > 0 ? `row ${lastId}` : 'nothing'}` } };
    }
    if (expectedPrev !== head.hash) {
      return { ok: false, rows: n, head, problem: { kind: 'changed', id: lastId, message: `row ${lastId} was changed and its hash recomputed: it no longer matches the hash the audit head recorded` } };
    }
    if (n !== head.count) {
      return { ok: false, rows: n, head, problem: { kind: 'head', id: null, message: `the audit head records ${head.count} rows but the chain holds ${n}: the head was edited` } };
    }
    return { ok: true, rows: n, head };
  })();
}

function span(from: number, to: number): string {
  return from === to ? `row ${from} was` : `rows ${from}–${to} were`;
}

function describeRow(r: StoredRow): string {
  return `${r.layer} ${r.verdict}: ${String(r.what).slice(0, 80)}`;
}
