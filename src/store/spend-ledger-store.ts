import type { Db } from './db.js';

/**
 * The SQL of the spend ledger (src/model/ledger.ts): reservations, per-task caps and threshold lines
 * (tables in src/store/spend-schema.ts). The ledger decides; this module only reads and writes rows.
 *
 * The cap is never overshot because `reserve` reads what is spent and inserts its row inside ONE
 * immediate transaction (`immediate` below): the write lock is taken before the read, so two
 * connections or processes cannot both see "room left". Keep every read the ledger's decision rests
 * on inside the callback it passes to `immediate`.
 */

/** The windows a cap applies to; src/model/windows.ts's CapName. */
export type SpendWindow = 'task' | 'hour' | 'day' | 'month';

// Column names come from this fixed map only, never from input.
const COLUMN: Record<SpendWindow, string> = { task: 'task_id', hour: 'hour_key', day: 'day_key', month: 'month_key' };

export interface ReservationRow {
  id: number;
  state: string;
  reserved_micro: number;
  task_id: string | null;
  hour_key: string;
  day_key: string;
  month_key: string;
  priced_as: string;
}

export interface TaskCapRow {
  cap_micro: number;
  parent_task_id: string | null;
}

export interface NewReservation {
  createdAt: number;
  model: string;
  pricedAs: string;
  purpose: string;
  taskId: string | null;
  trigger: string | null;
  repo: string | null;
  hourKey: string;
  dayKey: string;
  monthKey: string;
  reservedMicro: number;
  origin: string;
  attempt: number;
  maxTokens: number;
  askedTokens: number;
}

export interface SettledUsage {
  costMicro: number;
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
  /** Kept over any earlier note when null. */
  note: string | null;
}

export class SpendLedgerStore {
  constructor(private readonly db: Db) {}

  /** Runs fn in one IMMEDIATE transaction (the write lock first): every reserve/settle/release goes through here. */
  immediate<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** Runs fn in one deferred transaction: a consistent read of several windows, writing nothing. */
  read<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** Committed (settled + reconciled) and open (reserved) micro-dollars in one window. */
  sums(window: SpendWindow, key: string): { committed: number; open: number } {
    // A task's total includes its workers' rows (spend_task_caps.parent_task_id), so a coordinator
    // that goes on after a split is charged for what its workers spent.
    const where = window === 'task' ? `(task_id = ? OR task_id IN (SELECT task_id FROM spend_task_caps WHERE parent_task_id = ?))` : `${COLUMN[window]} = ?`;
    // An aggregate without GROUP BY always returns its one row; the fallback only satisfies the type.
    const sums = this.db
      .prepare<string[], { committed: number; open: number }>(
        `SELECT COALESCE(SUM(CASE WHEN state = 'open' THEN 0 ELSE cost_micro END), 0) AS committed,
                COALESCE(SUM(CASE WHEN state = 'open' THEN reserved_micro ELSE 0 END), 0) AS open
         FROM spend_reservations WHERE ${where} AND state != 'released'`,
      )
      .get(...(window === 'task' ? [key, key] : [key]));
    return sums ?? { committed: 0, open: 0 };
  }

  taskCap(taskId: string): TaskCapRow | undefined {
    return this.db.prepare<[string], TaskCapRow>('SELECT cap_micro, parent_task_id FROM spend_task_caps WHERE task_id = ?').get(taskId);
  }

  setTaskCap(taskId: string, capMicro: number, parentTaskId: string | null, now: number): void {
    this.db
      .prepare(
        `INSERT INTO spend_task_caps (task_id, cap_micro, parent_task_id, set_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (task_id) DO UPDATE SET cap_micro = excluded.cap_micro, parent_task_id = excluded.parent_task_id, set_at = excluded.set_at`,
      )
      .run(taskId, capMicro, parentTaskId, now);
  }

  /** Inserts an open reservation; returns its id. Call inside `immediate`, after the caps were checked. */
  insertReservation(r: NewReservation): number {
    const info = this.db
      .prepare(
        `INSERT INTO spend_reservations
           (created_at, model, priced_as, purpose, task_id, trigger, repo, hour_key, day_key, month_key, reserved_micro, state,
            origin, attempt, max_tokens, asked_tokens)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)`,
      )
      .run(
        r.createdAt,
        r.model,
        r.pricedAs,
        r.purpose,
        r.taskId,
        r.trigger,
        r.repo,
        r.hourKey,
        r.dayKey,
        r.monthKey,
        r.reservedMicro,
        r.origin,
        r.attempt,
        r.maxTokens,
        r.askedTokens,
      );
    return Number(info.lastInsertRowid);
  }

  reservation(id: number): ReservationRow | undefined {
    return this.db.prepare<[number], ReservationRow>('SELECT * FROM spend_reservations WHERE id = ?').get(id);
  }

  settle(id: number, u: SettledUsage, now: number): void {
    this.db
      .prepare(
        `UPDATE spend_reservations SET state = 'settled', cost_micro = ?, closed_at = ?, input_tokens = ?, output_tokens = ?,
           cache_creation_tokens = ?, cache_read_tokens = ?, note = COALESCE(?, note) WHERE id = ?`,
      )
      .run(u.costMicro, now, u.inputTokens, u.outputTokens, u.cacheCreationTokens, u.cacheReadTokens, u.note, id);
  }

  release(id: number, now: number, note: string | null): void {
    this.db.prepare(`UPDATE spend_reservations SET state = 'released', cost_micro = 0, closed_at = ?, note = ? WHERE id = ?`).run(now, note, id);
  }

  /** Settles a reservation at what it reserved (the call's outcome is unknown). */
  chargeReserved(id: number, now: number, note: string): void {
    this.db
      .prepare(`UPDATE spend_reservations SET state = 'settled', cost_micro = reserved_micro, closed_at = ?, note = ? WHERE id = ?`)
      .run(now, note, id);
  }

  /** Marks every open reservation reconciled at its worst case; returns the rows as they were. */
  reconcileOpen(now: number): ReservationRow[] {
    const open = this.db.prepare<[], ReservationRow>(`SELECT * FROM spend_reservations WHERE state = 'open'`).all();
    this.db
      .prepare(
        `UPDATE spend_reservations SET state = 'reconciled', cost_micro = reserved_micro, closed_at = ?,
           note = 'left open by a crash: counted at worst case' WHERE state = 'open'`,
      )
      .run(now);
    return open;
  }

  /** Records a threshold line once; true when this call recorded it (false: already reported). */
  recordThreshold(window: SpendWindow, windowKey: string, percent: number, spentMicro: number, capMicro: number, now: number): boolean {
    const info = this.db
      .prepare(`INSERT OR IGNORE INTO spend_thresholds (cap, window_key, percent, at, spent_micro, cap_micro) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(window, windowKey, percent, now, spentMicro, capMicro);
    return info.changes === 1;
  }
}
