import type { z } from 'zod';
import type { Db } from '../store/db.js';
import { SpendLedgerStore, type ReservationRow as Row } from '../store/spend-ledger-store.js';
import type { Budget as BudgetSchema } from '../policy/schema.js';
import { LedgerError } from './errors.js';
import { formatUsd, maxOutputTokensWithin, priceFor, costMicro, worstCaseMicro, type PriceTable, type Usage } from './prices.js';
import type { Origin, Purpose } from './origin.js';
import { CAP_NAMES, capsMicro, windowKeys, type CapName, type WindowKeys } from './windows.js';
import { RecoveryLog, type LadderStepRecord } from './recovery-log.js';

export { isAttended, ORIGINS, purposeOf, type Origin, type Purpose } from './origin.js';
export { capsMicro, windowEnd, windowKeys, type CapName, type WindowKeys } from './windows.js';
export type { LadderStepRecord } from './recovery-log.js';

/**
 * The spend ledger: money is reserved before it is spent.
 *
 * Before a call, `reserve` prices the worst case (every input token at the dearest input rate plus
 * all of max_tokens as output) and, in ONE immediate SQLite transaction, checks it against every
 * configured cap and inserts it. An immediate transaction takes the write lock before reading, so
 * two connections or processes on the same file cannot both read "room left" and both insert.
 * Open reservations count as spent; after the call `settle` replaces the reservation with the real
 * cost. That is normally at most what was reserved (the output is bounded by max_tokens, the input
 * priced at the dearest rate), but the input tokens are an estimate: when the real count is higher
 * the cost exceeds the reservation, and `settle` records the truth with an `overrun` note rather
 * than capping it. A call that failed without being billed is `release`d.
 *
 * Crash choice: a reservation still open when the daemon starts may belong to a request the API
 * received and billed before we died, and we cannot ask the API. `reconcileOpenReservations` counts
 * it as spent at its worst case: over-counting can only pause model work early, under-counting
 * could break the cap, and the cap is the promise.
 */

export type Budget = z.infer<typeof BudgetSchema>;
export const THRESHOLD_PERCENTS = [50, 80, 100] as const;
export type ThresholdPercent = (typeof THRESHOLD_PERCENTS)[number];

export interface ReserveRequest {
  model: string;
  inputTokens: number;
  maxTokens: number;
  /**
   * The fewest output tokens that still make the call useful. When the caps do not leave room for
   * maxTokens, the reservation is made for as many as fit, down to this floor, and refused only
   * below it. Default: maxTokens (never lowered).
   */
  minTokens?: number | undefined;
  purpose: Purpose;
  /** Default: from the purpose ('user' or 'ambient'). */
  origin?: Origin | undefined;
  /** 1 for a call's first attempt, 2 for its first retry... */
  attempt?: number | undefined;
  taskId?: string | undefined;
  trigger?: string | undefined;
  repo?: string | undefined;
}

export interface ThresholdCrossing {
  cap: CapName;
  /** The window the cap applies to: '2026-11-24T09' (hour), '2026-11-24' (day), '2026-11' (month), or the task id. */
  windowKey: string;
  percent: ThresholdPercent;
  /** Committed spend (settled + reconciled) when crossed. */
  spentMicro: number;
  capMicro: number;
  /**
   * Set on a 100 % line recorded because what is left does not pay for the smallest useful call
   * (spent may then be below the cap): what that call needed.
   */
  neededMicro?: number | undefined;
}

export interface Reservation {
  ok: true;
  id: number;
  reservedMicro: number;
  /** The output tokens reserved for: the request's maxTokens, or fewer (not below minTokens) when money is short. */
  maxTokens: number;
  /** Price-table entry used; differs from the model for unknown models (priced as the dearest). */
  pricedAs: string;
  knownModel: boolean;
}

export interface Refusal {
  ok: false;
  /** The first cap (task, hour, day, month order) the reservation would exceed. */
  cap: CapName;
  windowKey: string;
  capMicro: number;
  /** Committed plus open reservations in that window. */
  countedMicro: number;
  neededMicro: number;
  leftMicro: number;
  reason: string;
  crossings: ThresholdCrossing[];
}

export interface SettleResult {
  costMicro: number;
  crossings: ThresholdCrossing[];
}

export interface CapState {
  cap: CapName;
  windowKey: string;
  capMicro: number;
  /** Settled and reconciled cost. */
  committedMicro: number;
  /** Open reservations. */
  openMicro: number;
  /** cap - committed - open, never below 0. */
  leftMicro: number;
}

export interface LedgerOptions {
  prices: PriceTable;
  /** Read on every operation, so raising a cap in the policy takes effect on the next call. */
  budget: Budget | undefined | (() => Budget | undefined);
}

export class SpendLedger {
  private readonly readBudget: () => Budget | undefined;
  /** Ladder steps, retries and give-ups (src/model/recovery-log.ts). */
  readonly recovery: RecoveryLog;
  /** The ledger's rows (src/store/spend-ledger-store.ts). */
  private readonly store: SpendLedgerStore;

  constructor(
    db: Db,
    private readonly opts: LedgerOptions,
  ) {
    this.store = new SpendLedgerStore(db);
    const b = opts.budget;
    this.readBudget = typeof b === 'function' ? b : () => b;
    this.recovery = new RecoveryLog(db);
  }

  get prices(): PriceTable {
    return this.opts.prices;
  }

  caps(): Partial<Record<CapName, number>> {
    return capsMicro(this.readBudget());
  }

  /** What a reservation for this call would be, without making one. */
  quote(model: string, inputTokens: number, maxTokens: number): number {
    return worstCaseMicro(priceFor(this.opts.prices, model).rates, inputTokens, maxTokens);
  }

  /** The cap that applies to one window: a task's own cap (setTaskCap) wins over budget.task_usd. */
  private capFor(cap: CapName, key: string | undefined, caps: Partial<Record<CapName, number>>): number | undefined {
    if (cap === 'task' && key !== undefined) return this.store.taskCap(key)?.cap_micro ?? caps.task;
    return caps[cap];
  }

  /**
   * Gives one task a cap of its own instead of budget.task_usd (a coordinated worker's slice). With
   * a parent, the task's rows also count in the parent's task total, and every reservation for the
   * task must fit under the parent's cap as well as its own. Set before the task's first call.
   */
  setTaskCap(taskId: string, capMicro: number, opts: { parentTaskId?: string | undefined }, now: number): void {
    if (!Number.isInteger(capMicro) || capMicro < 0) throw new LedgerError(`task cap for ${taskId}: ${capMicro} is not a whole number of micro-dollars >= 0`);
    if (opts.parentTaskId === taskId) throw new LedgerError(`task ${taskId} cannot be its own parent`);
    this.store.setTaskCap(taskId, capMicro, opts.parentTaskId ?? null, now);
  }

  /**
   * What is left under one task's cap (its own, or budget.task_usd), counting its workers' spend and
   * open reservations; undefined when the task has no cap.
   */
  taskLeftMicro(taskId: string): number | undefined {
    const cap = this.capFor('task', taskId, this.caps());
    if (cap === undefined) return undefined;
    const { committed, open } = this.store.sums('task', taskId);
    return Math.max(0, cap - committed - open);
  }

  private keyFor(cap: CapName, keys: WindowKeys, taskId: string | null | undefined): string | undefined {
    if (cap === 'task') return taskId ?? undefined;
    return keys[cap];
  }

  /** The caps a call of this task must fit under, in task, hour, day, month order. */
  private capChecks(taskId: string | undefined, keys: WindowKeys): Array<{ cap: CapName; key: string | undefined; capMicro: number | undefined }> {
    const caps = this.caps();
    const checks: Array<{ cap: CapName; key: string | undefined; capMicro: number | undefined }> = [];
    for (const cap of CAP_NAMES) {
      // A call without a task id is a task of its own: the task cap bounds that one call.
      const key = this.keyFor(cap, keys, taskId);
      checks.push({ cap, key, capMicro: this.capFor(cap, key, caps) });
      // A worker's call must also fit under its coordinator's task cap (whose total includes it).
      const parent = cap === 'task' && key !== undefined ? this.store.taskCap(key)?.parent_task_id : undefined;
      if (parent) checks.push({ cap, key: parent, capMicro: this.capFor(cap, parent, caps) });
    }
    return checks;
  }

  /**
   * How many output tokens the call may reserve under every cap (maxTokens, or fewer down to
   * minTokens), or the first cap that cannot pay even for the floor. Reads only; run it inside the
   * transaction that inserts, so the answer still holds when the row is written.
   */
  private admit(req: ReserveRequest, keys: WindowKeys): { ok: true; maxTokens: number } | { ok: false; refusal: Omit<Refusal, 'crossings' | 'reason'>; committedMicro: number; floor: number } {
    const rates = priceFor(this.opts.prices, req.model).rates;
    const floor = Math.max(0, Math.min(req.minTokens ?? req.maxTokens, req.maxTokens));
    let grant = req.maxTokens;
    for (const { cap, key, capMicro } of this.capChecks(req.taskId, keys)) {
      if (capMicro === undefined) continue;
      const { committed, open } = key === undefined ? { committed: 0, open: 0 } : this.store.sums(cap, key);
      const counted = committed + open;
      const fits = maxOutputTokensWithin(rates, req.inputTokens, capMicro - counted);
      if (fits < floor) {
        return {
          ok: false,
          committedMicro: committed,
          floor,
          refusal: {
            ok: false,
            cap,
            windowKey: key ?? '(this call)',
            capMicro,
            countedMicro: counted,
            neededMicro: worstCaseMicro(rates, req.inputTokens, floor),
            leftMicro: Math.max(0, capMicro - counted),
          },
        };
      }
      grant = Math.min(grant, fits);
    }
    return { ok: true, maxTokens: grant };
  }

  /** Would a reservation for this call be granted now, and for how many output tokens? Reserves nothing. */
  fit(req: ReserveRequest, now: number): { ok: true; maxTokens: number } | { ok: false; reason: string; leftMicro: number } {
    const keys = windowKeys(now);
    const a = this.store.read(() => this.admit(req, keys));
    if (a.ok) return a;
    return { ok: false, reason: this.refusalReason(req, a.refusal, a.floor), leftMicro: a.refusal.leftMicro };
  }

  private refusalReason(req: ReserveRequest, r: Omit<Refusal, 'crossings' | 'reason'>, floor: number): string {
    const lowered = floor < req.maxTokens ? ` even with max_tokens lowered to ${floor}` : '';
    return (
      `${r.cap} cap ${formatUsd(r.capMicro)} (${r.windowKey}): ${formatUsd(r.countedMicro)} spent or reserved, ` +
      `${formatUsd(r.leftMicro)} left, ${req.model} needs up to ${formatUsd(r.neededMicro)}${lowered}`
    );
  }

  /**
   * Reserves the worst case of a call (max_tokens lowered toward minTokens to fit what the caps
   * leave), or refuses naming the first cap it would exceed even at the floor.
   */
  reserve(req: ReserveRequest, now: number): Reservation | Refusal {
    const price = priceFor(this.opts.prices, req.model);
    const keys = windowKeys(now);
    return this.store.immediate((): Reservation | Refusal => {
      const a = this.admit(req, keys);
      if (!a.ok) {
        const r = a.refusal;
        // The cap is used up when even with every open reservation returned the smallest useful call
        // would not fit: that is the 100 % line, reported once, after the lower lines the spend crossed.
        // A refusal caused only by other calls' open reservations is not: they may come back.
        const exhausted = r.windowKey !== '(this call)' && r.capMicro - a.committedMicro < r.neededMicro;
        const crossings = exhausted ? this.recordExhausted(r.cap, r.windowKey, a.committedMicro, r.capMicro, r.neededMicro, now) : [];
        return { ...r, reason: this.refusalReason(req, r, a.floor), crossings };
      }
      const needed = worstCaseMicro(price.rates, req.inputTokens, a.maxTokens);
      const id = this.store.insertReservation({
        createdAt: now,
        model: req.model,
        pricedAs: price.pricedAs,
        purpose: req.purpose,
        taskId: req.taskId ?? null,
        trigger: req.trigger ?? null,
        repo: req.repo ?? null,
        hourKey: keys.hour,
        dayKey: keys.day,
        monthKey: keys.month,
        reservedMicro: needed,
        origin: req.origin ?? (req.purpose === 'user' ? 'user' : 'ambient'),
        attempt: req.attempt ?? 1,
        maxTokens: a.maxTokens,
        askedTokens: req.maxTokens,
      });
      return { ok: true, id, reservedMicro: needed, maxTokens: a.maxTokens, pricedAs: price.pricedAs, knownModel: price.known };
    });
  }

  private row(id: number): Row {
    const r = this.store.reservation(id);
    if (!r) throw new LedgerError(`reservation ${id} does not exist; settle/release only ids returned by reserve()`);
    return r;
  }

  /**
   * Replaces a reservation with the real cost. Allowed on an open reservation and on one that
   * reconcile already counted at worst case (the real number is better), never twice.
   */
  settle(id: number, usage: Usage, now: number): SettleResult {
    return this.store.immediate((): SettleResult => {
      const r = this.row(id);
      if (r.state !== 'open' && r.state !== 'reconciled') {
        throw new LedgerError(`reservation ${id} is already ${r.state}; a reservation is settled or released once`);
      }
      const cost = costMicro(priceFor(this.opts.prices, r.priced_as).rates, usage);
      // If the input estimate was low the real cost can exceed the reservation: record the truth.
      const note = cost > r.reserved_micro ? `overrun: cost ${cost} > reserved ${r.reserved_micro}` : null;
      this.store.settle(
        id,
        {
          costMicro: cost,
          inputTokens: usage.input_tokens,
          outputTokens: usage.output_tokens,
          cacheCreationTokens: usage.cache_creation_input_tokens ?? 0,
          cacheReadTokens: usage.cache_read_input_tokens ?? 0,
          note,
        },
        now,
      );
      return { costMicro: cost, crossings: this.checkThresholds(r, now) };
    });
  }

  /** The call failed and was not billed (the API answered with an error status): the reservation counts nothing. */
  release(id: number, now: number, note?: string): void {
    this.store.immediate(() => {
      const r = this.row(id);
      if (r.state !== 'open') throw new LedgerError(`reservation ${id} is ${r.state}; only an open reservation can be released`);
      this.store.release(id, now, note ?? null);
    });
  }

  /**
   * The call's outcome is unknown (connection dropped after the request was sent, or the answer
   * could not be read): the API may have billed it, so it is charged at its reservation.
   */
  chargeWorstCase(id: number, now: number, note: string): SettleResult {
    return this.store.immediate((): SettleResult => {
      const r = this.row(id);
      if (r.state !== 'open') throw new LedgerError(`reservation ${id} is ${r.state}; only an open reservation can be charged`);
      this.store.chargeReserved(id, now, note);
      return { costMicro: r.reserved_micro, crossings: this.checkThresholds(r, now) };
    });
  }

  /**
   * Run once on daemon start, before any call: reservations still open were left by a crash and
   * are counted as spent at their worst case (see the module comment).
   */
  reconcileOpenReservations(now: number): { count: number; micro: number; crossings: ThresholdCrossing[] } {
    return this.store.immediate(() => {
      const open = this.store.reconcileOpen(now);
      const crossings: ThresholdCrossing[] = [];
      for (const r of open) crossings.push(...this.checkThresholds(r, now));
      return { count: open.length, micro: open.reduce((a, r) => a + r.reserved_micro, 0), crossings };
    });
  }

  private recordCrossing(
    cap: CapName,
    windowKey: string,
    percent: ThresholdPercent,
    spent: number,
    capMicro: number,
    now: number,
  ): ThresholdCrossing[] {
    return this.store.recordThreshold(cap, windowKey, percent, spent, capMicro, now) ? [{ cap, windowKey, percent, spentMicro: spent, capMicro }] : [];
  }

  /** The lower lines the committed spend crossed (if not yet reported), then the 100 % "used up" line. */
  private recordExhausted(cap: CapName, windowKey: string, committed: number, capMicro: number, neededMicro: number, now: number): ThresholdCrossing[] {
    const out: ThresholdCrossing[] = [];
    for (const p of THRESHOLD_PERCENTS) {
      if (p < 100 && committed * 100 >= capMicro * p) out.push(...this.recordCrossing(cap, windowKey, p, committed, capMicro, now));
    }
    for (const c of this.recordCrossing(cap, windowKey, 100, committed, capMicro, now)) out.push(committed >= capMicro ? c : { ...c, neededMicro });
    return out;
  }

  /**
   * Warnings are about money actually gone (settled + reconciled), not about reservations that may
   * still be mostly returned. 100 % is also recorded when a reservation is refused by a cap.
   */
  private checkThresholds(r: Row, now: number): ThresholdCrossing[] {
    const caps = this.caps();
    const keys: WindowKeys = { hour: r.hour_key, day: r.day_key, month: r.month_key };
    const out: ThresholdCrossing[] = [];
    for (const cap of CAP_NAMES) {
      const key = this.keyFor(cap, keys, r.task_id);
      const capMicro = this.capFor(cap, key, caps);
      if (capMicro === undefined || key === undefined) continue;
      const { committed } = this.store.sums(cap, key);
      if (committed <= 0) continue;
      for (const p of THRESHOLD_PERCENTS) {
        if (committed * 100 >= capMicro * p) out.push(...this.recordCrossing(cap, key, p, committed, capMicro, now));
      }
    }
    return out;
  }

  /** Every configured cap's state in the windows containing `now` (the task cap only with a task id). */
  capStates(now: number, taskId?: string): CapState[] {
    const caps = this.caps();
    const keys = windowKeys(now);
    const out: CapState[] = [];
    for (const cap of CAP_NAMES) {
      const key = this.keyFor(cap, keys, taskId);
      const capMicro = this.capFor(cap, key, caps);
      if (capMicro === undefined || key === undefined) continue;
      const { committed, open } = this.store.sums(cap, key);
      out.push({
        cap,
        windowKey: key,
        capMicro,
        committedMicro: committed,
        openMicro: open,
        leftMicro: Math.max(0, capMicro - committed - open),
      });
    }
    return out;
  }

  /** The least left under any configured cap now; undefined when no cap is configured. */
  leftMicro(now: number, taskId?: string): number | undefined {
    const states = this.capStates(now, taskId);
    const caps = this.caps();
    let left = states.length ? Math.min(...states.map((s) => s.leftMicro)) : undefined;
    // Without a task id the task cap still bounds one call.
    if (taskId === undefined && caps.task !== undefined) left = Math.min(left ?? Infinity, caps.task);
    return left;
  }

  /** Every step down the model ladder, with its reason (kept here for callers of the ledger API). */
  recordLadderStep(step: LadderStepRecord, now: number): void {
    this.recovery.recordLadderStep(step, now);
  }
}
