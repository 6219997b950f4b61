import type { Db } from '../store/db.js';
import { capsMicro, windowKeys, type Budget, type CapName } from './ledger.js';
import { formatUsd, microToUsd } from './prices.js';

/**
 * What `kairos spend [--json]` shows, computed straight from the ledger rows: per window the
 * committed spend (settled + reconciled), the open reservations and the cap; per model and per
 * trigger over the current month; and the share of prompt tokens read from cache this month.
 */

export interface WindowReport {
  /** hour '2026-11-24T09', day '2026-11-24', month '2026-11', or the task id. */
  window: string;
  spent_usd: number;
  reserved_usd: number;
  cap_usd: number;
  left_usd: number;
}

export interface ModelReport {
  calls: number;
  spent_usd: number;
  reserved_usd: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
}

export interface TriggerReport {
  calls: number;
  spent_usd: number;
  reserved_usd: number;
}

export interface SpendReport {
  at: string;
  /** Present only for caps the budget sets. */
  task?: WindowReport;
  hour?: WindowReport;
  day?: WindowReport;
  month?: WindowReport;
  /** The month the by_* breakdowns and cache_read_share cover. */
  period: string;
  by_model: Record<string, ModelReport>;
  by_trigger: Record<string, TriggerReport>;
  /** cache_read / (input + cache_creation + cache_read) over settled calls this month; 0 when none. */
  cache_read_share: number;
}

const COLUMN: Record<CapName, string> = { task: 'task_id', hour: 'hour_key', day: 'day_key', month: 'month_key' };

interface Sums {
  committed: number;
  open: number;
}

function sums(db: Db, cap: CapName, key: string): Sums {
  return db
    .prepare(
      `SELECT COALESCE(SUM(CASE WHEN state = 'open' THEN 0 ELSE cost_micro END), 0) AS committed,
              COALESCE(SUM(CASE WHEN state = 'open' THEN reserved_micro ELSE 0 END), 0) AS open
       FROM spend_reservations WHERE ${COLUMN[cap]} = ? AND state != 'released'`,
    )
    .get(key) as Sums;
}

export function spendReport(db: Db, budget: Budget | undefined, now: number, opts: { taskId?: string } = {}): SpendReport {
  const caps = capsMicro(budget);
  const keys = windowKeys(now);
  const report: SpendReport = {
    at: new Date(now).toISOString(),
    period: keys.month,
    by_model: {},
    by_trigger: {},
    cache_read_share: 0,
  };
  const taskId =
    opts.taskId ??
    (db.prepare(`SELECT task_id FROM spend_reservations WHERE task_id IS NOT NULL ORDER BY id DESC LIMIT 1`).get() as
      | { task_id: string }
      | undefined)?.task_id;
  for (const cap of ['task', 'hour', 'day', 'month'] as const) {
    const capMicro = caps[cap];
    const key = cap === 'task' ? taskId : keys[cap];
    if (capMicro === undefined || key === undefined) continue;
    const s = sums(db, cap, key);
    report[cap] = {
      window: key,
      spent_usd: microToUsd(s.committed),
      reserved_usd: microToUsd(s.open),
      cap_usd: microToUsd(capMicro),
      left_usd: microToUsd(Math.max(0, capMicro - s.committed - s.open)),
    };
  }

  const rows = db
    .prepare(
      `SELECT model, COALESCE(trigger, '(none)') AS trigger, state, reserved_micro, cost_micro,
              input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens
       FROM spend_reservations WHERE month_key = ? AND state != 'released'`,
    )
    .all(keys.month) as Array<{
    model: string;
    trigger: string;
    state: string;
    reserved_micro: number;
    cost_micro: number | null;
    input_tokens: number | null;
    output_tokens: number | null;
    cache_creation_tokens: number | null;
    cache_read_tokens: number | null;
  }>;
  // Sum in integer µ$ and convert once, so the report equals the rows exactly.
  const byModel = new Map<string, { calls: number; spent: number; open: number; i: number; o: number; cw: number; cr: number }>();
  const byTrigger = new Map<string, { calls: number; spent: number; open: number }>();
  let prompt = 0;
  let read = 0;
  for (const r of rows) {
    const open = r.state === 'open' ? r.reserved_micro : 0;
    const spent = r.state === 'open' ? 0 : (r.cost_micro ?? 0);
    const m = byModel.get(r.model) ?? { calls: 0, spent: 0, open: 0, i: 0, o: 0, cw: 0, cr: 0 };
    m.calls += 1;
    m.spent += spent;
    m.open += open;
    m.i += r.input_tokens ?? 0;
    m.o += r.output_tokens ?? 0;
    m.cw += r.cache_creation_tokens ?? 0;
    m.cr += r.cache_read_tokens ?? 0;
    byModel.set(r.model, m);
    const t = byTrigger.get(r.trigger) ?? { calls: 0, spent: 0, open: 0 };
    t.calls += 1;
    t.spent += spent;
    t.open += open;
    byTrigger.set(r.trigger, t);
    if (r.state === 'settled' && r.input_tokens !== null) {
      prompt += (r.input_tokens ?? 0) + (r.cache_creation_tokens ?? 0) + (r.cache_read_tokens ?? 0);
      read += r.cache_read_tokens ?? 0;
    }
  }
  for (const [model, m] of [...byModel].sort((a, b) => a[0].localeCompare(b[0]))) {
    report.by_model[model] = {
      calls: m.calls,
      spent_usd: microToUsd(m.spent),
      reserved_usd: microToUsd(m.open),
      input_tokens: m.i,
      output_tokens: m.o,
      cache_creation_tokens: m.cw,
      cache_read_tokens: m.cr,
    };
  }
  for (const [trigger, t] of [...byTrigger].sort((a, b) => a[0].localeCompare(b[0]))) {
    report.by_trigger[trigger] = { calls: t.calls, spent_usd: microToUsd(t.spent), reserved_usd: microToUsd(t.open) };
  }
  report.cache_read_share = prompt === 0 ? 0 : Math.round((read / prompt) * 10_000) / 10_000;
  return report;
}

const usd = (n: number): string => formatUsd(Math.round(n * 1_000_000));

/** The human form of `kairos spend`. */
export function formatSpendReport(r: SpendReport): string {
  const lines: string[] = [];
  const windows = (['task', 'hour', 'day', 'month'] as const).filter((c) => r[c]);
  if (windows.length === 0) lines.push('No spend caps configured (set budget: in the policy).');
  for (const c of windows) {
    const w = r[c]!;
    // The share is of what is used (spent + reserved), and says so: next to "left" a bare "2 %" read as 2 % left.
    const used = w.cap_usd > 0 ? Math.round(((w.spent_usd + w.reserved_usd) / w.cap_usd) * 100) : 100;
    lines.push(
      `${c.padEnd(5)} ${w.window.padEnd(13)} spent ${usd(w.spent_usd).padStart(9)}  reserved ${usd(w.reserved_usd).padStart(9)}  ` +
        `left ${usd(w.left_usd).padStart(9)} of ${usd(w.cap_usd)} (${used} % used)`,
    );
  }
  const models = Object.entries(r.by_model);
  if (models.length) {
    lines.push(`by model (${r.period}):`);
    for (const [m, v] of models) lines.push(`  ${m.padEnd(28)} ${String(v.calls).padStart(5)} calls  ${usd(v.spent_usd).padStart(9)}`);
  }
  const triggers = Object.entries(r.by_trigger);
  if (triggers.length) {
    lines.push(`by trigger (${r.period}):`);
    for (const [t, v] of triggers) lines.push(`  ${t.padEnd(28)} ${String(v.calls).padStart(5)} calls  ${usd(v.spent_usd).padStart(9)}`);
  }
  lines.push(`cache reads: ${(r.cache_read_share * 100).toFixed(1)} % of prompt tokens`);
  return lines.join('\n');
}
