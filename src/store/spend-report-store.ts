import type { Db } from './db.js';
import type { SpendWindow } from './spend-ledger-store.js';

/** The reads behind `kairos spend` (src/model/spend-report.ts) over the tables of src/store/spend-schema.ts. */

// Column names come from this fixed map only, never from input.
const COLUMN: Record<SpendWindow, string> = { task: 'task_id', hour: 'hour_key', day: 'day_key', month: 'month_key' };

export interface WindowSums {
  committed: number;
  open: number;
}

/** Committed and open micro-dollars in one window (a task's own rows only, as the report shows them). */
export function windowSums(db: Db, window: SpendWindow, key: string): WindowSums {
  // An aggregate without GROUP BY always returns its one row; the fallback only satisfies the type.
  const sums = db
    .prepare<[string], WindowSums>(
      `SELECT COALESCE(SUM(CASE WHEN state = 'open' THEN 0 ELSE cost_micro END), 0) AS committed,
              COALESCE(SUM(CASE WHEN state = 'open' THEN reserved_micro ELSE 0 END), 0) AS open
       FROM spend_reservations WHERE ${COLUMN[window]} = ? AND state != 'released'`,
    )
    .get(key);
  return sums ?? { committed: 0, open: 0 };
}

/** The task of the newest reservation that had one. */
export function latestSpendTaskId(db: Db): string | undefined {
  return db.prepare<[], { task_id: string }>(`SELECT task_id FROM spend_reservations WHERE task_id IS NOT NULL ORDER BY id DESC LIMIT 1`).get()?.task_id;
}

export interface MonthReservationRow {
  model: string;
  trigger: string;
  state: string;
  reserved_micro: number;
  cost_micro: number | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cache_creation_tokens: number | null;
  cache_read_tokens: number | null;
}

/** Every reservation of a month that was not released. */
export function monthReservations(db: Db, month: string): MonthReservationRow[] {
  return db
    .prepare<[string], MonthReservationRow>(
      `SELECT model, COALESCE(trigger, '(none)') AS trigger, state, reserved_micro, cost_micro,
              input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens
       FROM spend_reservations WHERE month_key = ? AND state != 'released'`,
    )
    .all(month);
}

export interface OriginSpendRow {
  origin: string | null;
  attempts: number;
  calls: number;
  spent: number;
  open: number;
  lowered: number;
}

/** Attempts, calls, spend and lowered max_tokens per origin over a month. */
export function spendByOrigin(db: Db, month: string): OriginSpendRow[] {
  return db
    .prepare<[string], OriginSpendRow>(
      `SELECT COALESCE(origin, CASE WHEN purpose = 'user' THEN 'user' ELSE 'ambient' END) AS origin, COUNT(*) AS attempts, SUM(CASE WHEN COALESCE(attempt, 1) = 1 THEN 1 ELSE 0 END) AS calls,
              SUM(CASE WHEN state = 'open' THEN 0 ELSE COALESCE(cost_micro, 0) END) AS spent,
              SUM(CASE WHEN state = 'open' THEN reserved_micro ELSE 0 END) AS open,
              SUM(CASE WHEN max_tokens < asked_tokens THEN 1 ELSE 0 END) AS lowered
       FROM spend_reservations WHERE month_key = ? GROUP BY 1`,
    )
    .all(month);
}

/** Retries and give-ups per origin over a month. */
export function recoveryCounts(db: Db, month: string): Array<{ origin: string; kind: 'retry' | 'gave_up'; n: number; waited: number }> {
  return db
    .prepare<[string], { origin: string; kind: 'retry' | 'gave_up'; n: number; waited: number }>(`SELECT origin, kind, COUNT(*) AS n, COALESCE(SUM(waited_ms), 0) AS waited FROM spend_recovery WHERE month_key = ? GROUP BY origin, kind`)
    .all(month);
}

/** Ladder steps per origin and cause in [from, to) (epoch ms). */
export function ladderStepCounts(db: Db, from: number, to: number): Array<{ origin: string | null; cause: string; n: number }> {
  return db
    .prepare<[number, number], { origin: string | null; cause: string; n: number }>(`SELECT origin, COALESCE(cause, 'budget') AS cause, COUNT(*) AS n FROM spend_ladder_steps WHERE at >= ? AND at < ? GROUP BY origin, cause`)
    .all(from, to);
}

export interface RecoveryEventRow {
  at: number;
  kind: 'fallback' | 'gave_up';
  origin: string;
  model: string;
  to_model: string | null;
  reason: string;
  task_id: string | null;
}

// Two newest-first reads, each walking its own index, merged by the caller: a UNION ordered as a
// whole would sort every match of the month to return twenty.

/** The newest 20 fallbacks after overload in [from, to). */
export function latestFallbacks(db: Db, from: number, to: number): RecoveryEventRow[] {
  return db
    .prepare<[number, number], RecoveryEventRow>(
      `SELECT at, 'fallback' AS kind, COALESCE(origin, 'ambient') AS origin, from_model AS model, to_model, reason, task_id FROM spend_ladder_steps
         WHERE cause = 'overloaded' AND at >= ? AND at < ? ORDER BY at DESC LIMIT 20`,
    )
    .all(from, to);
}

/** The newest 20 give-ups of a month. */
export function latestGiveUps(db: Db, month: string): RecoveryEventRow[] {
  return db
    .prepare<[string], RecoveryEventRow>(`SELECT at, 'gave_up' AS kind, origin, model, NULL AS to_model, reason, task_id FROM spend_recovery WHERE kind = 'gave_up' AND month_key = ? ORDER BY at DESC LIMIT 20`)
    .all(month);
}
