import { APIError, APIConnectionError, APIUserAbortError } from '@anthropic-ai/sdk';
import type { Purpose } from './ledger.js';
import { formatUsd } from './prices.js';

/**
 * Cost-aware recovery. Every attempt (the first and each retry) is reserved in the ledger before it
 * is sent, because a retry costs money again. When a reservation is refused the call steps down
 * the ladder (e.g. policy models.act → models.triage → no model) and every step is recorded with
 * its reason. The SDK's own retries are off (maxRetries: 0) so no attempt bypasses this loop.
 *
 * Background ('ambient') calls must not amplify an overload the user did not ask for: on 529 they
 * wait much longer and give up after one retry, while a 'user' call retries sooner and longer.
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
  /** Attempts per model when the API says it is overloaded (529). */
  maxOverloadedAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Extra factor on the backoff after a 529. */
  overloadedFactor: number;
  /** A retry-after longer than this is not waited for: the call fails and says so. */
  maxRetryAfterMs: number;
}

export const RETRY_POLICIES: Readonly<Record<Purpose, RetryPolicy>> = {
  user: { maxAttempts: 4, maxOverloadedAttempts: 4, baseDelayMs: 500, maxDelayMs: 8_000, overloadedFactor: 1, maxRetryAfterMs: 60_000 },
  ambient: { maxAttempts: 3, maxOverloadedAttempts: 2, baseDelayMs: 2_000, maxDelayMs: 120_000, overloadedFactor: 8, maxRetryAfterMs: 600_000 },
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
    const headers = err.headers as HeaderBag | undefined;
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

export type Admission = { ok: true; id: number; reservedMicro: number } | { ok: false; reason: string; leftMicro?: number | undefined };

export interface RecoveryHooks<T> {
  /** Reserve one attempt of `model`; a refusal steps down the ladder. */
  reserve(model: string): Promise<Admission>;
  send(model: string): Promise<T>;
  /** Settles the reservation with the real usage; returns the cost. */
  settle(id: number, value: T): number;
  /** The attempt failed unbilled. */
  release(id: number, err: ClassifiedError): void;
  /** The attempt failed and may have been billed; returns what was charged. */
  chargeUnknown(id: number, err: ClassifiedError): number;
  onStep?(step: LadderStep): void;
}

export interface RecoveryDeps {
  clock: () => number;
  sleep: (ms: number) => Promise<void>;
  random?: () => number;
}

export type RecoveryOutcome<T> =
  | { status: 'ok'; value: T; model: string; costMicro: number; reservedMicro: number; attempts: AttemptRecord[]; steps: LadderStep[] }
  | { status: 'no-model'; reason: string; leftMicro?: number | undefined; attempts: AttemptRecord[]; steps: LadderStep[] }
  | { status: 'failed'; model: string; error: ClassifiedError; reason: string; attempts: AttemptRecord[]; steps: LadderStep[] };

/** Runs one model call down `ladder` (dearest first), retrying and re-reserving each attempt. */
export async function runWithRecovery<T>(
  ladder: readonly string[],
  purpose: Purpose,
  hooks: RecoveryHooks<T>,
  deps: RecoveryDeps,
): Promise<RecoveryOutcome<T>> {
  const policy = RETRY_POLICIES[purpose];
  const random = deps.random ?? Math.random;
  const attempts: AttemptRecord[] = [];
  const steps: LadderStep[] = [];
  const step = (fromModel: string, toModel: string | null, reason: string): void => {
    const s: LadderStep = { at: deps.clock(), fromModel, toModel, reason };
    steps.push(s);
    hooks.onStep?.(s);
  };
  let lastRefusal: { reason: string; leftMicro?: number | undefined } = { reason: 'no model configured' };

  for (let rung = 0; rung < ladder.length; rung++) {
    const model = ladder[rung]!;
    const next = ladder[rung + 1] ?? null;
    let overloaded = 0;
    for (let attempt = 1; ; attempt++) {
      const admission = await hooks.reserve(model);
      if (!admission.ok) {
        lastRefusal = admission;
        const what = attempt === 1 ? `${model} does not fit the budget` : `a retry of ${model} does not fit the budget`;
        step(model, next, `${what}: ${admission.reason}`);
        break;
      }
      const record: AttemptRecord = { model, attempt, at: deps.clock() };
      attempts.push(record);
      let value: T;
      try {
        value = await hooks.send(model);
      } catch (e) {
        const err = classifyError(e, deps.clock());
        record.error = err;
        record.costMicro = err.billed === 'no' ? (hooks.release(admission.id, err), 0) : hooks.chargeUnknown(admission.id, err);
        if (err.kind === 'overloaded') overloaded++;
        const label = err.status !== undefined ? `HTTP ${err.status}` : err.kind;
        if (!err.retryable) {
          return { status: 'failed', model, error: err, reason: `${model}: ${label} is not retryable: ${err.message}`, attempts, steps };
        }
        if (attempt >= policy.maxAttempts || (err.kind === 'overloaded' && overloaded >= policy.maxOverloadedAttempts)) {
          const why = err.kind === 'overloaded' && purpose === 'ambient' ? ' (background call: gives up early on overload)' : '';
          return { status: 'failed', model, error: err, reason: `${model}: gave up after ${attempt} attempts, last ${label}${why}: ${err.message}`, attempts, steps };
        }
        if (err.retryAfterMs !== undefined && err.retryAfterMs > policy.maxRetryAfterMs) {
          return {
            status: 'failed',
            model,
            error: err,
            reason: `${model}: ${label}, the API asked to wait ${Math.round(err.retryAfterMs / 1000)} s, longer than ${Math.round(policy.maxRetryAfterMs / 1000)} s`,
            attempts,
            steps,
          };
        }
        const wait = backoffDelayMs(policy, attempt - 1, err, random);
        record.waitedMs = wait;
        await deps.sleep(wait);
        continue;
      }
      const cost = hooks.settle(admission.id, value);
      record.costMicro = cost;
      return { status: 'ok', value, model, costMicro: cost, reservedMicro: admission.reservedMicro, attempts, steps };
    }
  }
  return { status: 'no-model', reason: lastRefusal.reason, leftMicro: lastRefusal.leftMicro, attempts, steps };
}

/** The one-line notice for a call that ended with no model: what is left, and what the rules found instead. */
export function noModelNotice(leftMicro: number | undefined, rulesFound: string): string {
  const left = leftMicro === undefined ? 'unknown' : formatUsd(leftMicro);
  return `model steps skipped: budget left ${left}, rules found ${rulesFound}`;
}
