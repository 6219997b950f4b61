import { z } from 'zod';
import { messageOf } from '../core/errors.js';

/** What each worker of a split agent task did (agent/workers.ts writes it; `kairos tasks --json` shows it). */
const WorkerRecordData = z.object({
  /** `<coordinator>-w<i>`: the worker's ledger key and worktree name. */
  id: z.string(),
  instruction: z.string(),
  outcome: z.enum(['merged', 'conflict', 'slept', 'failed', 'no_changes']),
  reason: z.string(),
  /** What the worker's model calls cost (its ledger rows). */
  cost_micro: z.number(),
  /** Its task cap, or null when no cap was configured. */
  slice_micro: z.number().nullable(),
  files: z.array(z.string()),
  conflicts: z.array(z.string()),
});
/** One worker's record, as agent/workers.ts builds it and the store reads it back: one definition for both. */
export type WorkerRecord = z.infer<typeof WorkerRecordData>;

/**
 * The JSON a task keeps beside its columns (`tasks.data`), written by the daemon as the task goes.
 * Every key is optional: a task gets only the keys its kind and its history give it. Keys this
 * schema does not know (from an older or newer Kairos) are kept as they are, never an error.
 */
const taskDataFields = {
  /**
   * The process group of a running command, and that process's start time: a restart stops only that process.
   * At least 2: a restart signals `-pid`, and a stored 1, 0 or negative number would name every process, the
   * daemon's own group or init; a damaged row must never be able to aim that signal.
   */
  pid: z.number().int().min(2).optional(),
  pid_start: z.string().nullable().optional(),
  /** The layer that refused a trigger's command (so it did not run, and no agent looks at its "failure"). */
  refused_by: z.string().nullable().optional(),
  /** What an agent task's model calls cost, its workers' included. */
  cost_micro: z.number().optional(),
  proposal_id: z.string().optional(),
  /** The approval this task follows (its own, or the waiting one its identical diff was collapsed into). */
  approval_id: z.string().optional(),
  workers: z.array(WorkerRecordData).optional(),
  /** An ambient task's instruction, written by triage. */
  instruction: z.string().optional(),
  /** 'poke' when the user asked for this task (see pipeline Origin). */
  origin: z.string().optional(),
  /** The command task whose failure this agent task looks at. */
  after_task: z.number().int().optional(),
  /** The approval whose applied fix this command task re-checks (`after_apply: rerun`). */
  after_apply: z.string().optional(),
};
export const TaskData = z.looseObject(taskDataFields);
export type TaskData = z.infer<typeof TaskData>;

/**
 * What the daemon writes into a task's data: only the keys above, so a misspelt key is a compile error
 * rather than a silently unread one (the read type, TaskData, lets through keys it does not know).
 */
export type TaskDataPatch = z.infer<z.ZodObject<typeof taskDataFields>>;

export interface ReadTaskData {
  data: TaskData;
  /** Why the stored JSON is not all usable (null when it is): the keys that were dropped, or why nothing was. */
  problem: string | null;
}

/**
 * Reads a task's stored JSON. Never throws: a row written by another version or damaged by hand keeps
 * every key that is still valid (and every key this version does not know); only the invalid ones are
 * left out of the typed view, and `problem` says which. The stored text itself is never rewritten here.
 */
export function readTaskData(raw: string): ReadTaskData {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    return { data: {}, problem: `not JSON (${messageOf(e)})` };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { data: {}, problem: `not a JSON object: ${raw.slice(0, 80)}` };
  const whole = TaskData.safeParse(json);
  if (whole.success) return { data: whole.data, problem: null };
  const bad = new Set(whole.error.issues.map((i) => String(i.path[0])));
  const kept = Object.fromEntries(Object.entries(json).filter(([k]) => !bad.has(k)));
  const again = TaskData.safeParse(kept);
  const problems = whole.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  return again.success ? { data: again.data, problem: `left out ${problems}` } : { data: {}, problem: problems };
}

/** The stored JSON with `patch` merged in; a stored text that is not a JSON object is kept under `unreadable_data`. */
export function mergeTaskData(raw: string, patch: TaskDataPatch): string {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    json = undefined;
  }
  const base: object = typeof json === 'object' && json !== null && !Array.isArray(json) ? json : { unreadable_data: raw };
  return JSON.stringify({ ...base, ...patch });
}
