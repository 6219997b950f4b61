/**
 * The task state machine. Every move is checked against this table and made in a transaction
 * (see task-store.ts), so a restart can never run a task twice.
 *
 *   queued ──► running ──► done | failed | interrupted
 *     │
 *     └──► skipped            (superseded, trigger removed, repo gone)
 *   proposed ──► approved ──► running ;  proposed ──► denied | expired   (agent proposals)
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
] as const;
export type TaskState = (typeof TASK_STATES)[number];

const transitions: Record<TaskState, readonly TaskState[]> = {
  queued: ['running', 'skipped'],
  running: ['done', 'failed', 'interrupted', 'proposed'],
  proposed: ['approved', 'denied', 'expired'],
  approved: ['running', 'done', 'failed'],
  done: [],
  failed: [],
  interrupted: [],
  skipped: [],
  denied: [],
  expired: [],
};

export function canMove(from: TaskState, to: TaskState): boolean {
  return transitions[from].includes(to);
}

export function isFinal(state: TaskState): boolean {
  return transitions[state].length === 0;
}
