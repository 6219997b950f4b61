import { z } from 'zod';
import { allow, deny, type Step, type Verdict } from './decision.js';
import type { LayerContext } from './layers.js';

/**
 * Layer 3: whether now is a good time to start work. Pure functions over a snapshot of recent
 * activity and an injected `now`, so the daemon owns the state and tests need no clock games.
 * The gate defers (deny with `retryAt`); it never asks, because a human cannot usefully approve
 * "run during quiet hours".
 */

const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a local time like "22:00"');

export const GateConfig = z
  .object({
    /** Per trigger: minimum gap between starts, and a cap on starts per rolling hour. */
    triggers: z.record(z.string(), z.object({ cooldownMs: z.number().int().nonnegative().optional(), maxPerHour: z.number().int().positive().optional() }).strict()).default({}),
    /** Cap on tasks started per rolling hour, all triggers together. */
    maxActionsPerHour: z.number().int().positive().optional(),
    /** Local time window with no automatic work; may wrap midnight ("22:00"–"07:00"). */
    quietHours: z.object({ start: HHMM, end: HHMM }).strict().optional(),
    /** Hold off while the user edited files within this many milliseconds. */
    editBackoffMs: z.number().int().nonnegative().optional(),
  })
  .strict();
export type GateConfig = z.infer<typeof GateConfig>;

export interface GateState {
  /** Task starts in (at least) the last hour, any order. */
  recentStarts: readonly { trigger: string; at: Date }[];
  /** The last file-system event caused by the user (not by Kairos itself). */
  lastUserEditAt?: Date;
  /** The "pause all" switch. */
  paused: boolean;
}

const HOUR = 3_600_000;

function minutesOf(hhmm: string): number {
  // The schema admits only "HH:MM"; the defaults only satisfy the type.
  const [h = 0, m = 0] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

/** When the quiet window containing `now` ends, or undefined when `now` is not in it. */
export function quietUntil(now: Date, quiet: { start: string; end: string }): Date | undefined {
  const start = minutesOf(quiet.start);
  const end = minutesOf(quiet.end);
  if (start === end) return undefined;
  const cur = now.getHours() * 60 + now.getMinutes();
  const inside = start < end ? cur >= start && cur < end : cur >= start || cur < end;
  if (!inside) return undefined;
  const until = new Date(now);
  until.setHours(Math.floor(end / 60), end % 60, 0, 0);
  if (until <= now) until.setDate(until.getDate() + 1);
  return until;
}

function deferred(reason: string, at: Date): Verdict {
  return { decision: 'deny', reason, retryAt: at.toISOString() };
}

/** Whether a task for `trigger` may start at `now`. */
export function checkGate(trigger: string | undefined, config: GateConfig, state: GateState, now: Date): Verdict {
  if (state.paused) return deny('Kairos is paused (kairos resume to continue)');
  if (config.quietHours) {
    const until = quietUntil(now, config.quietHours);
    if (until) return deferred(`quiet hours (${config.quietHours.start}–${config.quietHours.end})`, until);
  }
  if (config.editBackoffMs && state.lastUserEditAt) {
    const idleAt = state.lastUserEditAt.getTime() + config.editBackoffMs;
    if (now.getTime() < idleAt) return deferred(`the user is editing (last change ${Math.round((now.getTime() - state.lastUserEditAt.getTime()) / 1000)}s ago)`, new Date(idleAt));
  }
  const hourAgo = now.getTime() - HOUR;
  const lastHour = state.recentStarts.filter((s) => s.at.getTime() > hourAgo && s.at.getTime() <= now.getTime());
  if (config.maxActionsPerHour !== undefined && lastHour.length >= config.maxActionsPerHour) {
    const oldest = Math.min(...lastHour.map((s) => s.at.getTime()));
    return deferred(`${lastHour.length} tasks started in the last hour (limit ${config.maxActionsPerHour})`, new Date(oldest + HOUR));
  }
  const t = trigger !== undefined ? config.triggers[trigger] : undefined;
  if (trigger !== undefined && t) {
    const mine = lastHour.filter((s) => s.trigger === trigger).map((s) => s.at.getTime());
    if (t.cooldownMs && mine.length) {
      const last = Math.max(...mine);
      if (now.getTime() - last < t.cooldownMs) return deferred(`trigger '${trigger}' is cooling down`, new Date(last + t.cooldownMs));
    }
    if (t.cooldownMs && t.cooldownMs > HOUR) {
      // A cool-down longer than the snapshot's hour: the daemon must pass older starts too.
      const older = state.recentStarts.filter((s) => s.trigger === trigger).map((s) => s.at.getTime());
      const last = older.length ? Math.max(...older) : undefined;
      if (last !== undefined && now.getTime() - last < t.cooldownMs) return deferred(`trigger '${trigger}' is cooling down`, new Date(last + t.cooldownMs));
    }
    if (t.maxPerHour !== undefined && mine.length >= t.maxPerHour) {
      return deferred(`trigger '${trigger}' started ${mine.length} times in the last hour (limit ${t.maxPerHour})`, new Date(Math.min(...mine) + HOUR));
    }
  }
  return allow();
}

/**
 * The layer: starting a task is gated in full; everything else (an agent's tool call, a model call
 * of a task already running) stops only for the pause switch, so pausing really stops work.
 */
export function gateLayer(step: Step, ctx: LayerContext): Verdict {
  if (step.origin === 'user') return allow();
  if (step.action.type === 'task') return checkGate(step.trigger, ctx.gate.config, ctx.gate.state, ctx.now);
  return ctx.gate.state.paused ? deny('Kairos is paused (kairos resume to continue)') : allow();
}
