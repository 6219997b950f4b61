// The SDK's small error module, not the SDK itself (see ./sdk.ts): the same classes, for instanceof.
import { APIError, APIConnectionError, APIUserAbortError } from '@anthropic-ai/sdk/core/error';
import { isAttended, type Origin } from './ledger.js';
import { formatUsd } from './prices.js';

/**
 * Cost-aware recovery. Every attempt (the first and each retry) is reserved in the ledger before it
 * is sent, because a retry costs money again. When a reservation is refused the call steps down
 * the ladder (e.g. policy models.act → models.triage → no model) and every step is recorded with
 * its reason. The SDK's own retries are off (maxRetries: 0) so no attempt bypasses this loop.
 *
 * Each call carries its origin, and each origin its retry policy:
 *  - attended work (a user's poke or request) has someone waiting: short backoff, and a
 *    retry-after longer than a few seconds is not waited out: the call gives up and says so;
 *  - unattended work (trigger, ambient, dream, worker) must not amplify an overload nobody asked
 *    for: longer backoff, and it waits only as long as the time and money it has left allow
 *    (never past its deadline, never for a retry the budget could not pay for anyway).
 * After `fallbackAfter` consecutive 429/529 answers (3 by default) on one model, the call steps one
 * rung down the ladder instead of trying that model again; past the last rung there is no model.
 */

export type ErrorKind = 'rate_limit' | 'overloaded' | 'server' | 'connection' | 'malformed' | 'client' | 'aborted';

export interface ClassifiedError {
  kind: ErrorKind;
  retryable: boolean;
  status?: number | undefined;
  /** From retry-after-ms / retry-after (seconds or an HTTP date), relative to the injected clock. */
  retryAfterMs?: number | undefined;
  /**
   * 'no': the API answered with an error status, which is not billed. 'unknown': the request may
   * have been processed (connection lost after sending, unreadable answer), so it is charged at
   * its reservation.
   */
  billed: 'no' | 'unknown';
  message: string;
}

export interface RetryPolicy {
  /** Attempts per model, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Extra factor on the backoff after a 529. */
  overloadedFactor: number;
  /** A retry-after longer than this is not waited for: the call gives up and says so. */
  maxRetryAfterMs: number;
}

/** Attended work waits at most this long for a retry-after: someone is looking at the screen. */
export const ATTENDED_MAX_RETRY_AFTER_MS = 10_000;
/** Consecutive 429/529 answers from one model before a call steps down the ladder. */
export const DEFAULT_FALLBACK_AFTER = 3;

const ATTENDED: RetryPolicy = { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 8_000, overloadedFactor: 1, maxRetryAfterMs: ATTENDED_MAX_RETRY_AFTER_MS };
const UNATTENDED: RetryPolicy = { maxAttempts: 4, baseDelayMs: 2_000, maxDelayMs: 120_000, overloadedFactor: 8, maxRetryAfterMs: 600_000 };

export const RETRY_POLICIES: Readonly<Record<Origin, RetryPolicy>> = {
  poke: ATTENDED,
  user: ATTENDED,
  // A trigger's task and a coordinator's worker run while their results are awaited: moderate.
  trigger: { ...UNATTENDED, baseDelayMs: 1_000, maxDelayMs: 60_000, overloadedFactor: 4, maxRetryAfterMs: 300_000 },
  worker: { ...UNATTENDED, baseDelayMs: 1_000, maxDelayMs: 60_000, overloadedFactor: 4, maxRetryAfterMs: 300_000 },
  ambient: UNATTENDED,
  // The nightly dream has hours: it may wait out a long overload rather than lose the night's memory.
  dream: { ...UNATTENDED, maxAttempts: 5, maxDelayMs: 300_000, maxRetryAfterMs: 1_800_000 },
};

interface HeaderBag {
  get(name: string): string | null;
}

/** Milliseconds to wait from retry-after-ms or retry-after (delta-seconds or HTTP date); undefined when absent or unusable. */
export function parseRetryAfter(headers: HeaderBag | undefined, nowMs: number): number | undefined {
  const ms = headers?.get('retry-after-ms');
  if (ms) {
    const v = Number(ms);
    if (Number.isFinite(v) && v >= 0) return v;
  }
  const ra = headers?.get('retry-after')?.trim();
  if (!ra) return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Math.round(Number(ra) * 1000);
  const at = Date.parse(ra);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

function causeCode(err: unknown): string | undefined {
  let e: any = err;
  for (let i = 0; i < 5 && e; i++) {
    if (typeof e.code === 'string') return e.code;
    e = e.cause;
  }
  return undefined;
}

/** Sorts an error from the SDK into what recovery needs to know. */
export function classifyError(err: unknown, nowMs: number): ClassifiedError {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof APIUserAbortError) return { kind: 'aborted', retryable: false, billed: 'unknown', message };
  if (err instanceof APIConnectionError) {
    // Refused before anything was sent: nothing can have been billed.
    const billed = causeCode(err) === 'ECONNREFUSED' ? 'no' : 'unknown';
    return { kind: 'connection', retryable: true, billed, message };
  }
  if (err instanceof APIError && typeof err.status === 'number') {
    const status = err.status;
    const headers: HeaderBag | undefined = err.headers;
    const retryAfterMs = parseRetryAfter(headers, nowMs);
    const kind: ErrorKind = status === 429 ? 'rate_limit' : status === 529 ? 'overloaded' : status >= 500 || status === 408 || status === 409 ? 'server' : 'client';
    let retryable = kind !== 'client';
    const should = headers?.get('x-should-retry');
    if (should === 'true') retryable = true;
    if (should === 'false') retryable = false;
    return { kind, retryable, status, retryAfterMs, billed: 'no', message };
  }
  // A 200 whose body could not be parsed (or a broken stream): the call may have been billed.
  return { kind: 'malformed', retryable: true, billed: 'unknown', message };
}

/** Exponential backoff with equal jitter; a 529 multiplies it by the policy's factor; retry-after is a floor. */
export function backoffDelayMs(policy: RetryPolicy, retryIndex: number, err: ClassifiedError, random: () => number): number {
  const factor = err.kind === 'overloaded' ? policy.overloadedFactor : 1;
  const cap = policy.maxDelayMs;
  const exp = Math.min(cap, policy.baseDelayMs * 2 ** retryIndex * factor);
  const jittered = Math.round(exp / 2 + random() * (exp / 2));
  if (err.retryAfterMs !== undefined) return Math.max(err.retryAfterMs, err.kind === 'overloaded' && factor > 1 ? jittered : 0);
  return jittered;
}

export interface LadderStep {
  at: number;
  fromModel: string;
  /** null: no model left; the caller falls back to what the rules found. */
  toModel: string | null;
  reason: string;
  /** budget: the model does not fit what is left; overloaded: repeated 429/529 from it. */
  cause: 'budget' | 'overloaded';
}

export interface AttemptRecord {
  model: string;
  attempt: number;
  at: number;
  /** How long recovery waited after this attempt failed (absent on success or when it gave up). */
  waitedMs?: number;
  error?: ClassifiedError;
  costMicro?: number;
}

export type Admission =
  | { ok: true; id: number; reservedMicro: number; /** Output tokens the reservation covers (max_tokens may be lowered to fit). */ maxTokens?: number }
  | { ok: false; reason: string; leftMicro?: number | undefined };

export interface RecoveryHooks<T> {
  /** Reserve one attempt of `model`; a refusal steps down the ladder. */
  reserve(model: string, attempt: number): Promise<Admission>;
  /** Sends the attempt the admission reserved for (its maxTokens). */
  send(model: string, admission: Extract<Admission, { ok: true }>): Promise<T>;
  /** Settles the reservation with the real usage; returns the cost. */
  settle(id: number, value: T): number;
  /** The attempt failed unbilled. */
  release(id: number, err: ClassifiedError): void;
  /** The attempt failed and may have been billed; returns what was charged. */
  chargeUnknown(id: number, err: ClassifiedError): number;
  /**
   * Would a retry of `model` be admitted by the budget now? Asked before waiting, so unattended work
   * does not sit out a backoff only to be refused. Absent: assume yes (reserve still decides).
   */
  affordable?(model: string): { ok: true } | { ok: false; reason: string };
  onStep?(step: LadderStep): void;
  /** A retry is about to be waited for. */
  onRetry?(r: { model: string; attempt: number; waitMs: number; error: ClassifiedError }): void;
  /** The call gave up (not a ladder step): why. */
  onGiveUp?(r: { model: string; reason: string }): void;
}

export interface RecoveryDeps {
  clock: () => number;
  sleep: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface RecoveryOptions {
  origin: Origin;
  /** Consecutive 429/529 on one model before stepping down (default DEFAULT_FALLBACK_AFTER). */
  fallbackAfter?: number | undefined;
  /** Epoch ms (on deps.clock) after which the caller no longer wants an answer: no wait may end past it. */
  deadline?: number | undefined;
}

export type RecoveryOutcome<T> =
  | { status: 'ok'; value: T; model: string; costMicro: number; reservedMicro: number; attempts: AttemptRecord[]; steps: LadderStep[] }
  | { status: 'no-model'; reason: string; leftMicro?: number | undefined; attempts: AttemptRecord[]; steps: LadderStep[] }
  | { status: 'failed'; model: string; error: ClassifiedError; reason: string; attempts: AttemptRecord[]; steps: LadderStep[] };

const isOverload = (e: ClassifiedError): boolean => e.kind === 'overloaded' || e.kind === 'rate_limit';
const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;

/**
 * Runs one model call down `ladder` (dearest first), retrying and re-reserving each attempt.
 * `how` is the call's origin (or, for older callers, its purpose: 'user' or 'ambient').
 */
export async function runWithRecovery<T>(
  ladder: readonly string[],
  how: Origin | RecoveryOptions,
  hooks: RecoveryHooks<T>,
  deps: RecoveryDeps,
): Promise<RecoveryOutcome<T>> {
  const opts: RecoveryOptions = typeof how === 'string' ? { origin: how } : how;
  const policy = RETRY_POLICIES[opts.origin];
  const attended = isAttended(opts.origin);
  const fallbackAfter = Math.max(1, opts.fallbackAfter ?? DEFAULT_FALLBACK_AFTER);
  const random = deps.random ?? Math.random;
  const attempts: AttemptRecord[] = [];
  const steps: LadderStep[] = [];
  const step = (fromModel: string, toModel: string | null, reason: string, cause: LadderStep['cause']): void => {
    const s: LadderStep = { at: deps.clock(), fromModel, toModel, reason, cause };
    steps.push(s);
    hooks.onStep?.(s);
  };
  const giveUp = (model: string, error: ClassifiedError, reason: string): RecoveryOutcome<T> => {
    hooks.onGiveUp?.({ model, reason });
    return { status: 'failed', model, error, reason, attempts, steps };
  };
  let lastRefusal: { reason: string; leftMicro?: number | undefined } = { reason: 'no model configured' };
  let lastOverload: { model: string; error: ClassifiedError; reason: string } | undefined;

  rungs: for (let rung = 0; rung < ladder.length; rung++) {
    const model = ladder[rung]!;
    const next = ladder[rung + 1] ?? null;
    let overloads = 0;
    for (let attempt = 1; ; attempt++) {
      const admission = await hooks.reserve(model, attempt);
      if (!admission.ok) {
        lastRefusal = admission;
        lastOverload = undefined;
        const what = attempt === 1 ? `${model} does not fit the budget` : `a retry of ${model} does not fit the budget`;
        step(model, next, `${what}: ${admission.reason}`, 'budget');
        break;
      }
      const record: AttemptRecord = { model, attempt, at: deps.clock() };
      attempts.push(record);
      let value: T;
      try {
        value = await hooks.send(model, admission);
      } catch (e) {
        const err = classifyError(e, deps.clock());
        record.error = err;
        record.costMicro = err.billed === 'no' ? (hooks.release(admission.id, err), 0) : hooks.chargeUnknown(admission.id, err);
        overloads = isOverload(err) ? overloads + 1 : 0;
        const label = err.status !== undefined ? `HTTP ${err.status}` : err.kind;
        if (!err.retryable) return giveUp(model, err, `${model}: ${label} is not retryable: ${err.message}`);
        if (overloads >= fallbackAfter) {
          // The model is saturated for us: one rung down, or no model at all past the last rung.
          const reason = `${overloads} consecutive ${label} (${err.kind === 'overloaded' ? 'overloaded' : 'rate limited'}) from ${model}`;
          step(model, next, reason, 'overloaded');
          lastOverload = { model, error: err, reason };
          continue rungs;
        }
        if (attempt >= policy.maxAttempts) return giveUp(model, err, `${model}: gave up after ${attempt} attempts, last ${label}: ${err.message}`);
        if (err.retryAfterMs !== undefined && err.retryAfterMs > policy.maxRetryAfterMs) {
          const who = attended ? `you are waiting (${opts.origin})` : `${opts.origin} work`;
          return giveUp(
            model,
            err,
            `${model}: ${label}, the API asked to wait ${seconds(err.retryAfterMs)}; ${who} waits at most ${seconds(policy.maxRetryAfterMs)}, so it gave up: try again later`,
          );
        }
        const wait = backoffDelayMs(policy, attempt - 1, err, random);
        if (opts.deadline !== undefined && deps.clock() + wait > opts.deadline) {
          const left = Math.max(0, opts.deadline - deps.clock());
          return giveUp(model, err, `${model}: ${label}; a retry after ${seconds(wait)} would end past the deadline (${seconds(left)} left), so it gave up`);
        }
        const afford = hooks.affordable?.(model);
        if (afford && !afford.ok) {
          // Waiting only to be refused would spend time for nothing: step down now.
          lastRefusal = { reason: afford.reason };
          lastOverload = undefined;
          step(model, next, `a retry of ${model} does not fit the budget: ${afford.reason}`, 'budget');
          break;
        }
        record.waitedMs = wait;
        hooks.onRetry?.({ model, attempt, waitMs: wait, error: err });
        await deps.sleep(wait);
        continue;
      }
      const cost = hooks.settle(admission.id, value);
      record.costMicro = cost;
      return { status: 'ok', value, model, costMicro: cost, reservedMicro: admission.reservedMicro, attempts, steps };
    }
  }
  if (lastOverload) {
    // Overloads, not money, ended the ladder: that is a failure to report, not a budget skip.
    return giveUp(lastOverload.model, lastOverload.error, `${lastOverload.reason}; no cheaper model left to fall back to`);
  }
  return { status: 'no-model', reason: lastRefusal.reason, leftMicro: lastRefusal.leftMicro, attempts, steps };
}

/** The one-line notice for a call that ended with no model: what is left, and what the rules found instead. */
export function noModelNotice(leftMicro: number | undefined, rulesFound: string): string {
  const left = leftMicro === undefined ? 'unknown' : formatUsd(leftMicro);
  return `model steps skipped: budget left ${left}, rules found ${rulesFound}`;
}
