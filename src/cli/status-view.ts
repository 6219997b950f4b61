/**
 * How `kairos status`, `kairos tasks` and `kairos start` put the daemon's state into words: the
 * pause switch, work the gate holds (why and until when), the policy's load and reload, and what
 * an untrusted repository means for agent work. Pure functions of the status JSON, so they are
 * the same whether the daemon answered over its socket or a test built the object.
 */
import { z } from 'zod';
import type { HeldTask } from '../store/task-store.js';

// The parts of the daemon's `status` answer read here, checked as the answer arrives from the socket
// (src/cli/lifecycle.ts). Loose objects: keys not named pass through to `status --json` untouched.

export const PauseJson = z.looseObject({ paused: z.boolean(), since: z.string().nullable(), by: z.string().nullable() });
export type PauseJson = z.infer<typeof PauseJson>;

/** What `status --json` lists under held_tasks: the store's view, as the daemon sends it. */
const HeldTaskJson = z.looseObject({
  id: z.number(),
  repo: z.string(),
  trigger: z.string(),
  reason: z.string(),
  until: z.string().nullable(),
  since: z.string(),
}) satisfies z.ZodType<HeldTask>;

export const ModelStepsJson = z.looseObject({
  enabled: z.boolean(),
  reason: z.string().nullish(),
  paused: z.looseObject({ reason: z.string().optional() }).nullable().optional(),
  state: z.string().optional(),
});
type ModelStepsJson = z.infer<typeof ModelStepsJson>;

const ReloadJson = z.looseObject({ ok: z.boolean(), error: z.string().nullable(), at: z.string() });

/** The pause switch, held work and the policy's load, as statusDetailLines reads them. */
export const StatusDetailsJson = z.looseObject({
  pause: PauseJson.optional(),
  held_tasks: z.array(HeldTaskJson).optional(),
  policy: z.looseObject({ loaded_at: z.string().optional(), last_reload: ReloadJson.nullable().optional() }).optional(),
});
type StatusDetailsJson = z.infer<typeof StatusDetailsJson>;

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** A moment as the person at the desk reads it: local "07:00" today, "2026-11-28 07:00" otherwise, and how far off. */
export function whenText(iso: string, now: Date = new Date()): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const hm = `${pad(at.getHours())}:${pad(at.getMinutes())}`;
  const sameDay = at.toDateString() === now.toDateString();
  const clock = sameDay ? hm : `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${hm}`;
  const mins = Math.round((at.getTime() - now.getTime()) / 60_000);
  const span = Math.abs(mins) >= 60 ? `${Math.floor(Math.abs(mins) / 60)}h ${Math.abs(mins) % 60}m` : `${Math.abs(mins)}m`;
  return mins === 0 ? clock : `${clock} (${mins > 0 ? `in ${span}` : `${span} ago`})`;
}

/** Why a queued task waits, in one phrase: "held: quiet hours (22:00–07:00) until 07:00 (in 5h 2m)". */
export function heldText(reason: string, until: string | null, now: Date = new Date()): string {
  return `held: ${reason}${until ? ` until ${whenText(until, now)}` : ''}`;
}

/** The model-steps line: on, paused (by `kairos pause`), budget-paused, or why it is off. */
export function modelStepsText(model: ModelStepsJson, pause: PauseJson | undefined): string {
  if (!model.enabled) return model.reason ?? 'off';
  if (pause?.paused) return "paused (kairos pause; 'kairos resume' to continue)";
  if (model.paused) return `paused for money: ${model.paused.reason ?? 'a budget cap is reached'}`;
  return 'on';
}

/** The lines `status` adds about the pause switch, held work and the policy (empty when all is ordinary). */
export function statusDetailLines(s: StatusDetailsJson, now: Date = new Date()): string[] {
  const lines: string[] = [];
  const pause = s.pause;
  if (pause?.paused) {
    lines.push(`  PAUSED${pause.since ? ` since ${whenText(pause.since, now)}` : ''}${pause.by ? ` (by ${pause.by})` : ''}: no automatic work starts until 'kairos resume'`);
  }
  const held = s.held_tasks ?? [];
  if (held.length) {
    lines.push(`  held tasks: ${held.length}`);
    for (const t of held.slice(0, 10)) lines.push(`    task ${t.id} (${t.trigger}) ${heldText(t.reason, t.until, now)}`);
    if (held.length > 10) lines.push(`    … and ${held.length - 10} more ('kairos tasks --state queued')`);
  }
  const policy = s.policy;
  if (policy?.loaded_at) {
    const reload = policy.last_reload;
    const last = !reload ? 'not reloaded since start' : reload.ok ? `last reload ${whenText(reload.at, now)} ok` : `last reload ${whenText(reload.at, now)} FAILED`;
    lines.push(`  policy: loaded ${whenText(policy.loaded_at, now)}; ${last}`);
  }
  return lines;
}

/**
 * What `kairos start` says about each repository it was asked to watch whose agent work is limited:
 * untrusted (read-only until `kairos trust`) or changed since trusted (model work paused).
 */
export function trustHints(repos: ReadonlyArray<{ path: string; trust: string }>, asked: readonly string[]): string[] {
  const wanted = new Set(asked);
  const out: string[] = [];
  for (const r of repos) {
    if (asked.length && !wanted.has(r.path)) continue;
    if (r.trust === 'untrusted') {
      out.push(`kairos: ${r.path} is not trusted: agent work there is read-only (it may read, not edit or run commands) until you run 'kairos trust ${r.path}'`);
    } else if (r.trust === 'changed') {
      out.push(`kairos: ${r.path}'s policy or hook files changed since you trusted it: model work there is paused until you review them and run 'kairos trust ${r.path}'`);
    }
  }
  return out;
}
