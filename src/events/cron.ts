import type { ScheduledTask, Logger as CronLogger } from 'node-cron';
import { cronExpressionParser, nodeCronLib } from './cron-libs.js';
import type { LogSink } from '../report/logger.js';
import { UserInputError, messageOf } from '../core/errors.js';

export interface CronSchedule {
  repo: string;
  /** The policy trigger's name; one schedule per (repo, trigger). */
  trigger: string;
  /** 5 fields (minute precision) or 6 (leading seconds), local time. */
  expr: string;
}

/** A `cron` event as the source produces it (see CronEvent in ./event.ts). */
export interface CronDraft {
  type: 'cron';
  repo: string;
  /** When it fired (ISO). */
  at: string;
  origin: 'user';
  data: {
    trigger: string;
    /** The scheduled time it stands for (ISO, UTC). */
    slot: string;
    /** True when it stands in for slots missed while the daemon was down or the machine asleep. */
    catchUp: boolean;
  };
}

/** Where the last fired slot of each schedule is kept; the events layer reads and writes it only through this. */
export interface CronSlots {
  /** The last slot fired (ISO), undefined before the first. */
  last(repo: string, trigger: string): string | undefined;
  record(repo: string, trigger: string, slotIso: string): void;
  /** fn, made to run in one SQLite transaction (the slot and what onFire stores commit together). */
  inTransaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
}

export interface CronOptions {
  schedules: readonly CronSchedule[];
  /** The last slot fired per schedule (src/store/cron-store.ts's cronSlots over `cron_runs`). */
  slots: CronSlots;
  /**
   * Called inside the SQLite transaction that records the slot, so storing the event there (same db) and
   * recording the slot commit together: a crash can neither lose a fired slot nor fire it twice.
   * If it throws, the slot is not recorded.
   */
  onFire: (draft: CronDraft) => void;
  /** The clock for catch-up decisions and `at`; node-cron itself runs on real time. */
  now?: () => Date;
  /** Upper bound of the random delay added to each scheduled firing, so many schedules do not fire at once. Default 2000. */
  jitterMs?: number;
  log?: LogSink;
}

export interface CronHandle {
  stop(): void;
}

export class CronError extends UserInputError {
  override readonly name = 'CronError';
}

const DEFAULT_JITTER_MS = 2000;
// A scheduled firing this late (beyond its jitter) is the first beat after a sleep or a blocked loop.
const LATE_MS = 30_000;

/** Null when both node-cron (which runs it) and cron-parser (which computes catch-up) accept `expr`; else why not. */
export function validateCron(expr: string): string | null {
  const detailed = nodeCronLib().validateDetailed(expr);
  if (!detailed.valid) {
    const e = detailed.errors[0];
    return e ? `${e.field}: ${e.message}` : `'${expr}' is not a valid cron expression`;
  }
  try {
    cronExpressionParser().parse(expr).prev();
  } catch (e) {
    return messageOf(e);
  }
  return null;
}

/** The most recent slot of `expr` at or before `now`, or null if there is none. */
export function previousSlot(expr: string, now: Date): Date | null {
  try {
    // +1 ms: prev() is strictly before currentDate, and a slot exactly at `now` counts as past.
    return cronExpressionParser().parse(expr, { currentDate: new Date(now.getTime() + 1) }).prev().toDate();
  } catch {
    // Expressions are validated when the policy loads (CronError); null here is "no earlier slot".
    return null;
  }
}

/**
 * Starts the schedules. On start, a schedule whose most recent slot is later than the last one recorded fires
 * once with catchUp (however many slots were missed); a schedule never run before only records its current
 * slot, so installing a trigger does not fire it. Throws CronError for an invalid expression.
 */
export function startCron(options: CronOptions): CronHandle {
  const { slots, onFire, log } = options;
  const now = options.now ?? (() => new Date());
  const jitterMs = Math.max(0, options.jitterMs ?? DEFAULT_JITTER_MS);

  for (const s of options.schedules) {
    const problem = validateCron(s.expr);
    if (problem) throw new CronError(`trigger '${s.trigger}' in ${s.repo}: cron '${s.expr}': ${problem}; fix the expression in the policy file`);
  }

  const lastSlot = (s: CronSchedule): number | null => {
    const last = slots.last(s.repo, s.trigger);
    return last !== undefined ? Date.parse(last) : null;
  };

  /** Records the slot and calls onFire in one transaction; a slot already recorded is skipped. */
  const fire = slots.inTransaction((s: CronSchedule, slot: Date, catchUp: boolean): boolean => {
    const last = lastSlot(s);
    if (last !== null && slot.getTime() <= last) return false;
    slots.record(s.repo, s.trigger, slot.toISOString());
    onFire({
      type: 'cron',
      repo: s.repo,
      at: now().toISOString(),
      origin: 'user',
      data: { trigger: s.trigger, slot: slot.toISOString(), catchUp },
    });
    return true;
  });

  const safeFire = (s: CronSchedule, slot: Date, catchUp: boolean): void => {
    try {
      if (fire(s, slot, catchUp)) log?.info({ repo: s.repo, trigger: s.trigger, slot: slot.toISOString(), catchUp }, 'cron fired');
    } catch (e) {
      log?.error({ repo: s.repo, trigger: s.trigger, err: messageOf(e) }, 'cron firing failed; the slot stays unrecorded');
    }
  };

  const tasks: ScheduledTask[] = [];
  const cronLogger = toCronLogger(log);
  for (const s of options.schedules) {
    const startedAt = now();
    const prev = previousSlot(s.expr, startedAt);
    const last = lastSlot(s);
    if (last === null) {
      // First sight of this schedule: remember where we are, fire nothing.
      slots.record(s.repo, s.trigger, (prev ?? startedAt).toISOString());
    } else if (prev && prev.getTime() > last) {
      safeFire(s, prev, true);
    }

    const task = nodeCronLib().schedule(
      s.expr,
      (ctx) => {
        // ctx.date is the slot being run. A large infinite tolerance makes node-cron run the most recent
        // missed slot once after a sleep instead of dropping it; earlier missed slots are dropped.
        const late = Date.now() - ctx.date.getTime() > LATE_MS + jitterMs;
        safeFire(s, ctx.date, late);
      },
      {
        name: `${s.repo}#${s.trigger}`,
        maxRandomDelay: jitterMs,
        missedExecutionTolerance: Number.MAX_SAFE_INTEGER,
        suppressMissedWarning: true,
        noOverlap: false,
        logger: cronLogger,
      },
    );
    tasks.push(task);
  }

  return {
    stop() {
      for (const t of tasks) void t.destroy();
      tasks.length = 0;
    },
  };
}

/** node-cron logs to the console by default; route its few messages into our log instead. */
function toCronLogger(log: LogSink | undefined): CronLogger {
  const text = (m: string | Error): string => (m instanceof Error ? m.message : m);
  return {
    info: (m) => log?.debug({ source: 'node-cron' }, m),
    warn: (m) => log?.warn({ source: 'node-cron' }, m),
    error: (m, err) => log?.error({ source: 'node-cron', err: err?.message }, text(m)),
    debug: (m) => log?.debug({ source: 'node-cron' }, text(m)),
  };
}
