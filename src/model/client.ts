import type Anthropic from '@anthropic-ai/sdk';
import { lazyAnthropic } from './sdk.js';
import type { Db } from '../store/db.js';
import type { Models } from '../policy/schema.js';
import {
  purposeOf,
  SpendLedger,
  windowEnd,
  windowKeys,
  type Budget,
  type CapName,
  type Origin,
  type ThresholdCrossing,
} from './ledger.js';
import { formatUsd, loadPriceTable, type PriceTable } from './prices.js';
import { runWithRecovery, type LadderStep } from './recovery.js';
import { AuditLog } from '../policy/audit.js';
import { auditModelCall } from './call-audit.js';
import type { ModelCallOutcome, ModelCallRequest, PauseState, TokenCount } from './model-call.js';
import { modelLadder } from './model-ladder.js';
import { redactMessages, redactSystem } from './outgoing.js';
import { whenSent } from './request-sent.js';

/**
 * The one way Kairos calls a model. Every attempt is reserved in the spend ledger first, retried
 * through recovery (the SDK's own retries are off), and settled with the real usage. This module
 * reads nothing from process.env: the daemon passes ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL in.
 * What a call asks and comes to is in model-call.ts, the ladder of models in model-ladder.ts, the
 * audit row of each attempt in call-audit.ts.
 */

export interface ModelClientOptions {
  db: Db;
  /** The policy's budget, or a getter read on every call (raising a cap takes effect at once). */
  budget: Budget | undefined | (() => Budget | undefined);
  /** The policy's models (act, triage): the ladder a call steps down when money runs low. */
  models?: Models | undefined | (() => Models | undefined);
  apiKey?: string | undefined;
  baseURL?: string | undefined;
  /** Defaults to the shipped policies/prices.yaml. */
  prices?: PriceTable | undefined;
  clock?: (() => number) | undefined;
  sleep?: ((ms: number) => Promise<void>) | undefined;
  random?: (() => number) | undefined;
  /** Per-request HTTP timeout (default 10 minutes). */
  timeoutMs?: number | undefined;
  onThreshold?: ((crossing: ThresholdCrossing) => void) | undefined;
  /** Consecutive 429/529 from one model before a call steps down the ladder (default 3); read per call. */
  fallbackAfter?: number | undefined | (() => number | undefined);
  onLadderStep?: ((step: LadderStep, call: { origin: Origin; taskId?: string | undefined; repo?: string | undefined }) => void) | undefined;
  /** A call gave up (retry-after too long for its origin, its deadline, too many errors): for the daily log. */
  onGiveUp?: ((e: { origin: Origin; model: string; reason: string; taskId?: string | undefined; repo?: string | undefined }) => void) | undefined;
}

/**
 * The fewest output tokens that still make a call useful: a triage answer is a short JSON object,
 * an act turn must have room for a tool call with a file's edit. Below these a call is refused
 * rather than lowered further. Configurable as budget.triage_min_tokens / budget.act_min_tokens.
 */
export const DEFAULT_MIN_TOKENS = { triage: 256, act: 1024 } as const;

export function minTokensFor(role: 'triage' | 'act', budget: Budget | undefined): number {
  return (role === 'triage' ? budget?.triage_min_tokens : budget?.act_min_tokens) ?? DEFAULT_MIN_TOKENS[role];
}

export interface ModelClient {
  readonly modelStepsEnabled: boolean;
  /** One line saying why model steps are off; undefined when they are on. */
  readonly disabledReason: string | undefined;
  readonly ledger: SpendLedger;
  call(req: ModelCallRequest): Promise<ModelCallOutcome>;
  /** Why model work is paused now, or undefined. Re-checks the caps, so raising one unpauses. */
  paused(): PauseState | undefined;
  countInputTokens(req: Pick<ModelCallRequest, 'model' | 'system' | 'messages' | 'tools'>): Promise<TokenCount>;
}

export const NO_KEY_REASON = 'model steps are off: ANTHROPIC_API_KEY is not set (rules and commands still run)';

/** Above this the SDK refuses a non-streaming call (it could outlast its 10-minute timeout). */
const MAX_NON_STREAMING_TOKENS = 21_000;

/**
 * The smallest useful call (a short triage prompt at the triage floor): a refusal after which the
 * committed spend leaves less than this pauses model work. Open reservations are not counted: they
 * may come back, and a busy moment must not pause a tiny budget that still pays for small calls.
 */
const PAUSE_PROBE = { inputTokens: 500, maxTokens: DEFAULT_MIN_TOKENS.triage };

/** Every model Kairos calls has at least this context window (input + output tokens). */
export const CONTEXT_WINDOW_TOKENS = 200_000;
/** A call whose bound comes this near the window counts exactly (the window is a hard edge). */
const WINDOW_MARGIN = 0.8;

/** Conservative token estimate without the API: ~3 characters per token (real text is nearer 4). */
export function estimateInputTokens(req: Pick<ModelCallRequest, 'system' | 'messages' | 'tools'>): number {
  const chars = JSON.stringify([req.system ?? '', req.messages, req.tools ?? []]).length;
  return Math.ceil(chars / 3);
}

export function createModelClient(opts: ModelClientOptions): ModelClient {
  const clock = opts.clock ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const models = opts.models;
  const readModels = typeof models === 'function' ? models : () => models;
  const ledger = new SpendLedger(opts.db, { prices: opts.prices ?? loadPriceTable(), budget: opts.budget });
  const apiKey = opts.apiKey?.trim() || undefined;
  const audit = new AuditLog(opts.db);

  if (!apiKey) {
    return {
      modelStepsEnabled: false,
      disabledReason: NO_KEY_REASON,
      ledger,
      call: async () => ({ status: 'skipped', skipped: 'no-api-key', reason: NO_KEY_REASON, steps: [], crossings: [] }),
      paused: () => undefined,
      countInputTokens: async (req) => ({ tokens: estimateInputTokens(req), source: 'estimate' }),
    };
  }

  const sdk = lazyAnthropic({ apiKey, baseURL: opts.baseURL, timeoutMs: opts.timeoutMs ?? 600_000 });

  let pause: PauseState | undefined;

  const currentPause = (): PauseState | undefined => {
    if (!pause) return undefined;
    const caps = ledger.caps();
    const now = clock();
    const keys = windowKeys(now);
    const rolled = pause.cap !== 'task' && keys[pause.cap] !== pause.windowKey;
    if (rolled || caps[pause.cap] !== pause.capMicro) pause = undefined;
    return pause;
  };

  const countInputTokens = async (req: Pick<ModelCallRequest, 'model' | 'system' | 'messages' | 'tools'>): Promise<TokenCount> => {
    try {
      const r = await (await sdk()).messages.countTokens(
        {
          model: req.model,
          messages: redactMessages(req.messages),
          ...(req.system !== undefined ? { system: redactSystem(req.system) } : {}),
          ...(req.tools ? { tools: req.tools } : {}),
        },
        { timeout: 15_000 },
      );
      if (Number.isInteger(r.input_tokens) && r.input_tokens >= 0) return { tokens: r.input_tokens, source: 'count_tokens' };
    } catch {
      // count_tokens is an optimisation; the estimate below is conservative.
    }
    return { tokens: estimateInputTokens(req), source: 'estimate' };
  };

  const call = async (req: ModelCallRequest): Promise<ModelCallOutcome> => {
    const crossings: ThresholdCrossing[] = [];
    const noteCrossings = (cs: ThresholdCrossing[]): void => {
      for (const c of cs) {
        crossings.push(c);
        opts.onThreshold?.(c);
      }
    };
    const p = currentPause();
    if (p) {
      auditModelCall(audit, req, req.model, 0, { decision: 'deny', reason: p.reason, rule: `budget.${p.cap}` });
      return { status: 'skipped', skipped: 'paused', reason: p.reason, leftMicro: 0, steps: [], crossings };
    }

    const origin: Origin = req.origin ?? (req.purpose === 'user' ? 'user' : 'ambient');
    const purpose = purposeOf(origin);
    let ladder = modelLadder(req.model, readModels(), req.ladder ?? true);
    // A task whose calls already fell back after repeated overloads starts where it fell to.
    const fellTo = req.taskId !== undefined ? ledger.recovery.overloadFallback(req.taskId) : undefined;
    if (fellTo !== undefined && ladder.indexOf(fellTo) > 0) ladder = ladder.slice(ladder.indexOf(fellTo));
    const counts = new Map<string, number>();
    let lastRefusal: { cap: CapName; windowKey: string; capMicro: number; leftMicro: number; reason: string } | undefined;
    let sentMaxTokens = req.max_tokens;
    let onSent = req.onSent;
    let reserved = 0;
    const inputTokens = async (model: string): Promise<number> => {
      let tokens = counts.get(model);
      if (tokens === undefined) {
        const bound = model === req.model ? usableBound(model) : undefined;
        tokens = bound ?? (await countInputTokens({ ...req, model })).tokens;
        counts.set(model, tokens);
      }
      return tokens;
    };
    // The caller's bound, when reserving on it is as good as the exact count: far from the window,
    // and every cap still grants the full max_tokens with it.
    const usableBound = (model: string): number | undefined => {
      const bound = req.inputTokensBound;
      if (bound === undefined || !Number.isSafeInteger(bound) || bound < 0) return undefined;
      if (bound + req.max_tokens > CONTEXT_WINDOW_TOKENS * WINDOW_MARGIN) return undefined;
      const fit = ledger.fit(reserveRequest(model, bound, reserved + 1), clock());
      return fit.ok && fit.maxTokens >= req.max_tokens ? bound : undefined;
    };
    const reserveRequest = (model: string, tokens: number, attempt: number) => ({
      model,
      inputTokens: tokens,
      maxTokens: req.max_tokens,
      minTokens: req.minTokens,
      purpose,
      origin,
      attempt,
      taskId: req.taskId,
      trigger: req.trigger,
      repo: req.repo,
    });
    const fallbackAfter = typeof opts.fallbackAfter === 'function' ? opts.fallbackAfter() : opts.fallbackAfter;

    const outcome = await runWithRecovery<Anthropic.Message>(
      ladder,
      { origin, fallbackAfter, deadline: req.deadline },
      {
        reserve: async (model) => {
          // Numbered per call, across rungs: attempt 1 is the call, every later row a retry or fallback.
          const tokens = await inputTokens(model);
          // The reservation and its audit rows commit together: the spend row is the ledger's real answer.
          const r = opts.db
            .transaction(() => {
              const res = ledger.reserve(reserveRequest(model, tokens, reserved + 1), clock());
              auditModelCall(audit, req, model, tokens, res.ok ? { decision: 'allow', reason: `reserved ${formatUsd(res.reservedMicro)} for ${res.maxTokens} output tokens (reservation ${res.id}, priced as ${res.pricedAs})` } : { decision: 'deny', reason: res.reason, rule: `budget.${res.cap}` });
              return res;
            })
            .immediate();
          if (r.ok) {
            reserved++;
            return { ok: true, id: r.id, reservedMicro: r.reservedMicro, maxTokens: r.maxTokens };
          }
          noteCrossings(r.crossings);
          lastRefusal = r;
          return { ok: false, reason: r.reason, leftMicro: r.leftMicro };
        },
        affordable: (model) => {
          const tokens = counts.get(model);
          if (tokens === undefined) return { ok: true };
          const f = ledger.fit(reserveRequest(model, tokens, 2), clock());
          return f.ok ? { ok: true } : { ok: false, reason: f.reason };
        },
        send: async (model, admission) => {
          const maxTokens = admission.maxTokens ?? req.max_tokens;
          sentMaxTokens = maxTokens;
          const params: Anthropic.MessageCreateParamsNonStreaming = {
            model,
            max_tokens: maxTokens,
            // Redacted here, at the boundary, so no request reaches the API unfiltered whoever built it.
            messages: redactMessages(req.messages),
            ...(req.system !== undefined ? { system: redactSystem(req.system) } : {}),
            ...(req.tools ? { tools: req.tools } : {}),
          };
          const stream = req.stream === true || maxTokens > MAX_NON_STREAMING_TOKENS;
          const client = await sdk();
          const sent = onSent;
          onSent = undefined;
          return whenSent(sent, () => (stream ? client.messages.stream(params).finalMessage() : client.messages.create(params)));
        },
        settle: (id, message) => {
          const s = ledger.settle(id, message.usage, clock());
          noteCrossings(s.crossings);
          return s.costMicro;
        },
        release: (id, err) => ledger.release(id, clock(), `${err.kind}${err.status ? ` ${err.status}` : ''}: not billed`),
        chargeUnknown: (id, err) => {
          const s = ledger.chargeWorstCase(id, clock(), `${err.kind}: outcome unknown, charged at reservation`);
          noteCrossings(s.crossings);
          return s.costMicro;
        },
        onStep: (step) => {
          ledger.recovery.recordLadderStep(
            { fromModel: step.fromModel, toModel: step.toModel, reason: step.reason, cause: step.cause, origin, taskId: req.taskId, trigger: req.trigger, repo: req.repo },
            step.at,
          );
          opts.onLadderStep?.(step, { origin, taskId: req.taskId, repo: req.repo });
        },
        onRetry: (r) => {
          const label = r.error.status !== undefined ? `HTTP ${r.error.status}` : r.error.kind;
          ledger.recovery.recordRecovery(
            { kind: 'retry', origin, model: r.model, reason: `${label} on attempt ${r.attempt}`, waitedMs: r.waitMs, taskId: req.taskId, trigger: req.trigger, repo: req.repo },
            clock(),
          );
        },
        onGiveUp: (g) => {
          ledger.recovery.recordRecovery({ kind: 'gave_up', origin, model: g.model, reason: g.reason, taskId: req.taskId, trigger: req.trigger, repo: req.repo }, clock());
          opts.onGiveUp?.({ origin, model: g.model, reason: g.reason, taskId: req.taskId, repo: req.repo });
        },
      },
      { clock, sleep, ...(opts.random ? { random: opts.random } : {}) },
    );

    if (outcome.status === 'ok') {
      return {
        status: 'ok',
        message: outcome.value,
        model: outcome.model,
        maxTokens: sentMaxTokens,
        costMicro: outcome.costMicro,
        reservedMicro: outcome.reservedMicro,
        attempts: outcome.attempts,
        steps: outcome.steps,
        crossings,
      };
    }
    if (outcome.status === 'failed') {
      return { status: 'failed', model: outcome.model, error: outcome.error, reason: outcome.reason, attempts: outcome.attempts, steps: outcome.steps, crossings };
    }
    // No model fits. If what is left would not pay even for a small call of the cheapest rung, the
    // cap is exhausted for practical purposes: pause model work until the window rolls or the cap rises.
    const r = lastRefusal;
    const cheapest = ladder[ladder.length - 1]!;
    const committedLeft = r && r.cap !== 'task' ? ledger.capStates(clock()).find((c) => c.cap === r.cap && c.windowKey === r.windowKey) : undefined;
    const leftAfterOpen = committedLeft ? committedLeft.capMicro - committedLeft.committedMicro : Infinity;
    if (r && r.cap !== 'task' && leftAfterOpen < ledger.quote(cheapest, PAUSE_PROBE.inputTokens, PAUSE_PROBE.maxTokens)) {
      const now = clock();
      const resumesAt = windowEnd(r.cap, now);
      pause = {
        cap: r.cap,
        windowKey: r.windowKey,
        capMicro: r.capMicro,
        since: now,
        resumesAt,
        reason:
          `model work paused: ${r.cap} cap ${formatUsd(r.capMicro)} reached (${formatUsd(r.leftMicro)} left); ` +
          `resumes ${resumesAt ? `at ${new Date(resumesAt).toLocaleString()}` : 'with a new task'} or when the cap is raised`,
      };
    }
    return { status: 'skipped', skipped: 'budget', reason: outcome.reason, leftMicro: outcome.leftMicro, steps: outcome.steps, crossings };
  };

  return {
    modelStepsEnabled: true,
    disabledReason: undefined,
    ledger,
    call,
    paused: currentPause,
    countInputTokens,
  };
}
