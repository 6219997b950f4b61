/**
 * The task state machine. Every move is checked against this table and made in a transaction
 * (see task-store.ts), so a restart can never run a task twice.
 *
 *   queued ──► running ──► done | failed | interrupted
 *     │
 *     └──► skipped            (superseded, trigger removed, repo gone)
 *   proposed ──► applied ◄──► undone      (agent proposals follow their approval and proposal:
 *       │                                  applied once approved and written, undone by `kairos undo`,
 *       └──► denied | expired | failed     applied again by `kairos apply`; failed: the apply failed)
 *   proposed ──► approved ──► running      (kept for stores written before tasks followed proposals)
 *
 * `applied` and `undone` can still move (a human's undo or re-apply) but nothing runs or waits on
 * them, so they count as final for retention; see isFinal.
 */
export const TASK_STATES = [
  'queued',
  'running',
  'done',
  'failed',
  'interrupted',
  'skipped',
  'proposed',
  'approved',
  'denied',
  'expired',
  'applied',
  'undone',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

const transitions: Record<TaskState, readonly TaskState[]> = {
  queued: ['running', 'skipped'],
  running: ['done', 'failed', 'interrupted', 'proposed'],
  proposed: ['applied', 'denied', 'expired', 'failed', 'approved'],
  approved: ['running', 'done', 'failed'],
  done: [],
  failed: [],
  interrupted: [],
  skipped: [],
  denied: [],
  expired: [],
  applied: ['undone'],
  undone: ['applied'],
};

/** States a human can still flip (undo, apply again) while nothing runs or waits on them. */
const SETTLED: ReadonlySet<TaskState> = new Set(['applied', 'undone']);

export function canMove(from: TaskState, to: TaskState): boolean {
  return transitions[from].includes(to);
}

/** Nothing runs or waits on a task in this state any more (retention may remove it when old). */
export function isFinal(state: TaskState): boolean {
  return transitions[state].length === 0 || SETTLED.has(state);
}
