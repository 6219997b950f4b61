import type { Db } from '../store/db.js';
import { latestFallbacks, latestGiveUps, latestSpendTaskId, ladderStepCounts, monthReservations, recoveryCounts, spendByOrigin, windowSums } from '../store/spend-report-store.js';
import { capsMicro, windowKeys, type Budget, type ThresholdCrossing } from './ledger.js';
import { formatUsd, formatUsdPair, microToUsd } from './prices.js';

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

/** Per origin (poke, user, trigger, ambient, dream, worker) over the month. */
export interface OriginReport {
  /** Calls made (first attempts). */
  calls: number;
  /** Every attempt sent, retries included. */
  attempts: number;
  spent_usd: number;
  reserved_usd: number;
  /** Retries waited for, and how long in all. */
  retries: number;
  waited_s: number;
  /** Steps down the model ladder after repeated 429/529. */
  fallbacks: number;
  /** Steps down the ladder because a model did not fit what was left. */
  budget_steps: number;
  /** Calls that gave up (retry-after too long for the origin, deadline, too many errors). */
  gave_up: number;
  /** Attempts sent with max_tokens lowered to fit the money left. */
  lowered: number;
}

/** One fallback or give-up this month, newest first. */
export interface RecoveryEvent {
  at: string;
  kind: 'fallback' | 'gave_up';
  origin: string;
  model: string;
  to_model?: string | null;
  reason: string;
  task?: string | null;
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
  by_origin: Record<string, OriginReport>;
  /** The latest fallbacks and give-ups this month (at most 20), newest first. */
  recovery: RecoveryEvent[];
  /** cache_read / (input + cache_creation + cache_read) over settled calls this month; 0 when none. */
  cache_read_share: number;
}

export function spendReport(db: Db, budget: Budget | undefined, now: number, opts: { taskId?: string } = {}): SpendReport {
  const caps = capsMicro(budget);
  const keys = windowKeys(now);
  const report: SpendReport = {
    at: new Date(now).toISOString(),
    period: keys.month,
    by_model: {},
    by_trigger: {},
    by_origin: {},
    recovery: [],
    cache_read_share: 0,
  };
  const taskId = opts.taskId ?? latestSpendTaskId(db);
  for (const cap of ['task', 'hour', 'day', 'month'] as const) {
    const capMicro = caps[cap];
    const key = cap === 'task' ? taskId : keys[cap];
    if (capMicro === undefined || key === undefined) continue;
    const s = windowSums(db, cap, key);
    report[cap] = {
      window: key,
      spent_usd: microToUsd(s.committed),
      reserved_usd: microToUsd(s.open),
      cap_usd: microToUsd(capMicro),
      left_usd: microToUsd(Math.max(0, capMicro - s.committed - s.open)),
    };
  }

  const rows = monthReservations(db, keys.month);
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
  addRecovery(db, report, keys.month);
  return report;
}

/** Per-origin spend, retries, fallbacks and give-ups over `month`, and the latest fallbacks and give-ups. */
function addRecovery(db: Db, report: SpendReport, month: string): void {
  const origins = new Map<string, OriginReport>();
  const of = (o: string | null): OriginReport => {
    const key = o ?? 'ambient';
    let r = origins.get(key);
    if (!r) origins.set(key, (r = { calls: 0, attempts: 0, spent_usd: 0, reserved_usd: 0, retries: 0, waited_s: 0, fallbacks: 0, budget_steps: 0, gave_up: 0, lowered: 0 }));
    return r;
  };
  const spend = spendByOrigin(db, month);
  // Released attempts count as attempts (they were sent) but cost nothing.
  for (const r of spend) {
    const o = of(r.origin);
    o.attempts += r.attempts;
    o.calls += r.calls;
    o.spent_usd = microToUsd(microOf(o.spent_usd) + r.spent);
    o.reserved_usd = microToUsd(microOf(o.reserved_usd) + r.open);
    o.lowered += r.lowered;
  }
  const rec = recoveryCounts(db, month);
  for (const r of rec) {
    const o = of(r.origin);
    if (r.kind === 'retry') {
      o.retries += r.n;
      o.waited_s = Math.round((o.waited_s + r.waited / 1000) * 10) / 10;
    } else o.gave_up += r.n;
  }
  const [from, to] = monthBounds(month);
  const steps = ladderStepCounts(db, from, to);
  for (const r of steps) {
    const o = of(r.origin);
    if (r.cause === 'overloaded') o.fallbacks += r.n;
    else o.budget_steps += r.n;
  }
  for (const [k, v] of [...origins].sort((a, b) => a[0].localeCompare(b[0]))) report.by_origin[k] = v;

  // Two newest-first reads (src/store/spend-report-store.ts), merged here.
  const events = [...latestFallbacks(db, from, to), ...latestGiveUps(db, month)].sort((a, b) => b.at - a.at).slice(0, 20);
  report.recovery = events.map((e) => ({
    at: new Date(e.at).toISOString(),
    kind: e.kind,
    origin: e.origin,
    model: e.model,
    ...(e.kind === 'fallback' ? { to_model: e.to_model } : {}),
    reason: e.reason,
    task: e.task_id,
  }));
}

const microOf = (usd: number): number => Math.round(usd * 1_000_000);

/** Local-time epoch bounds of a 'YYYY-MM' month key (ladder steps carry only their time). */
function monthBounds(month: string): [number, number] {
  // A month key is always 'YYYY-MM'; the defaults only satisfy the type.
  const [y = 1970, m = 1] = month.split('-').map(Number);
  return [new Date(y, m - 1, 1).getTime(), new Date(y, m, 1).getTime()];
}

/**
 * The daily-log / notification text of a budget threshold, at the real percentage and with both
 * amounts at one precision. A 100 % line with spend under the cap means what is left no longer
 * pays for the smallest useful call.
 */
export function thresholdMessage(c: ThresholdCrossing): string {
  const [spent, cap] = formatUsdPair(c.spentMicro, c.capMicro);
  const pct = c.capMicro > 0 ? Math.floor((c.spentMicro * 100) / c.capMicro) : 100;
  const where = `${c.cap} cap, window ${c.windowKey}`;
  if (c.percent < 100) return `spend crossed ${c.percent} % of the ${c.cap} cap: ${spent} of ${cap} (${pct} %, window ${c.windowKey})`;
  const pause = 'model steps pause until the window rolls over or you raise the cap; rules and commands keep running';
  if (c.spentMicro >= c.capMicro) return `spend reached 100 % of the ${c.cap} cap: ${spent} of ${cap} (window ${c.windowKey}); ${pause}`;
  const left = formatUsdPair(c.capMicro - c.spentMicro, c.neededMicro ?? 0);
  return `the ${where} is used up: ${spent} of ${cap} spent (${pct} %); the ${left[0]} left does not pay for the smallest useful call (${left[1]}); ${pause}`;
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
  const origins = Object.entries(r.by_origin);
  if (origins.length) {
    lines.push(`by origin (${r.period}):`);
    for (const [o, v] of origins) {
      const extra = [
        v.retries ? `${v.retries} retr${v.retries === 1 ? 'y' : 'ies'} (${v.waited_s} s waited)` : '',
        v.fallbacks ? `${v.fallbacks} fallback${v.fallbacks === 1 ? '' : 's'} after overload` : '',
        v.gave_up ? `${v.gave_up} gave up` : '',
        v.lowered ? `${v.lowered} with max_tokens lowered` : '',
      ].filter(Boolean);
      lines.push(`  ${o.padEnd(28)} ${String(v.calls).padStart(5)} calls  ${usd(v.spent_usd).padStart(9)}${extra.length ? `  ${extra.join(', ')}` : ''}`);
    }
  }
  lines.push(`cache reads: ${(r.cache_read_share * 100).toFixed(1)} % of prompt tokens`);
  return lines.join('\n');
}
