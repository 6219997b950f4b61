import type { Db } from '../store/db.js';
import { ApprovalStore, type Approval } from '../store/approval-store.js';
import { ProposalStore, type Proposal } from '../store/proposal-store.js';
import { TaskStore } from '../store/task-store.js';
import { canMove, type TaskState } from '../store/task-states.js';

/**
 * Tasks follow their proposal: an agent task that proposed stays `proposed` while its approval
 * waits, then becomes `applied`, `denied`, `expired` or `failed` with the decision, `undone` after
 * `kairos undo`, and `applied` again after `kairos apply`. The state is derived from the approval
 * and the proposal, so following is idempotent: the queue calls it inside the transaction that
 * records each decision, and the daemon calls it again for a task that was still `running` when
 * its approval was decided (a very fast click) and at start (a crash between an undo's file writes
 * and its bookkeeping).
 */

/** States a task passes through after it proposed; only tasks in one of these are moved. */
const FOLLOWING: ReadonlySet<TaskState> = new Set(['proposed', 'applied', 'undone']);

/** The state the approval and proposal say the task is in; null while the answer is not settled (an apply in flight). */
export function taskStateFor(a: Approval, p: Proposal | null): TaskState | null {
  switch (a.state) {
    case 'pending':
      return 'proposed';
    case 'applying':
      return null;
    case 'denied':
      return 'denied';
    case 'expired':
      return 'expired';
    case 'failed':
      return 'failed';
    case 'approved':
      if (!p) return null;
      return p.state === 'applied' ? 'applied' : p.state === 'undone' ? 'undone' : null;
  }
}

/** The shortest chain of legal moves from one state to another (e.g. proposed → applied → undone), or null. */
function path(from: TaskState, to: TaskState): TaskState[] | null {
  const seen = new Set<TaskState>([from]);
  let frontier: TaskState[][] = [[from]];
  while (frontier.length) {
    const next: TaskState[][] = [];
    for (const route of frontier) {
      const last = route[route.length - 1]!;
      if (last === to) return route.slice(1);
      for (const s of ['applied', 'undone', 'denied', 'expired', 'failed'] as const) {
        if (!seen.has(s) && canMove(last, s)) {
          seen.add(s);
          next.push([...route, s]);
        }
      }
    }
    frontier = next;
  }
  return null;
}

export interface FollowedTask {
  taskId: number;
  from: TaskState;
  to: TaskState;
}

/**
 * Moves every task the approval decides for to the state it now implies, each move checked
 * against the state machine and logged with `reason`. Call inside the caller's transaction.
 */
export function followApproval(db: Db, approvalId: string, at: string, reason: string): FollowedTask[] {
  const approvals = new ApprovalStore(db);
  const a = approvals.get(approvalId);
  if (!a || a.kind !== 'proposal') return [];
  const p = a.proposalId ? new ProposalStore(db).get(a.proposalId) : null;
  const target = taskStateFor(a, p);
  if (!target) return [];
  return moveTasks(db, approvals.linkedTasks(a.id), target, at, reason);
}

/** As followApproval, for a proposal (after `kairos undo` / `kairos apply`); a proposal never queued moves its own task. */
export function followProposal(db: Db, proposalId: string, at: string, reason: string): FollowedTask[] {
  const latest = new ApprovalStore(db).forProposal(proposalId)[0];
  if (latest) return followApproval(db, latest.id, at, reason);
  const p = new ProposalStore(db).get(proposalId);
  const target = p?.state === 'applied' ? 'applied' : p?.state === 'undone' ? 'undone' : null;
  return p && target ? moveTasks(db, [p.taskId], target, at, reason) : [];
}

/** Every task that lags its approval (still `proposed` after a decision, `applied` after an undo): moved now. */
export function followAll(db: Db, at: string, reason: string): FollowedTask[] {
  return new ApprovalStore(db).withFollowingTasks().flatMap((id) => followApproval(db, id, at, reason));
}

function moveTasks(db: Db, taskIds: readonly string[], target: TaskState, at: string, reason: string): FollowedTask[] {
  const tasks = new TaskStore(db);
  const moved: FollowedTask[] = [];
  for (const raw of taskIds) {
    const id = Number(raw);
    if (!Number.isSafeInteger(id)) continue; // a task id from outside the task table (tests, tools)
    const t = tasks.get(id);
    if (!t || t.state === target || !FOLLOWING.has(t.state)) continue;
    const route = path(t.state, target);
    if (!route) continue;
    let from = t.state;
    for (const to of route) {
      tasks.move(id, from, to, at, { reason });
      from = to;
    }
    moved.push({ taskId: id, from: t.state, to: target });
  }
  return moved;
}

/** One task brought up to date with its newest approval (the daemon calls this once the runner recorded `proposed`). */
export function followTask(db: Db, taskId: number, at: string, reason: string): FollowedTask[] {
  const latest = new ApprovalStore(db).forTask(String(taskId))[0];
  return latest ? followApproval(db, latest.id, at, reason) : [];
}
