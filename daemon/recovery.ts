import { recoverInterruptedApplies } from '../src/agent/apply.js';
import type { ModelClient } from '../src/model/client.js';
import { formatUsd } from '../src/model/prices.js';
import type { ApprovalQueue } from '../src/pipeline/approvals.js';
import type { Db } from '../src/store/db.js';
import { ApprovalStore } from '../src/store/approval-store.js';
import type { TaskRow, TaskStore } from '../src/store/task-store.js';
import type { Logger } from '../src/report/logger.js';
import { followAll } from '../src/pipeline/task-follow.js';
import { messageOf } from '../src/core/errors.js';

/**
 * What a crash (or SIGKILL) can leave half done, settled before the daemon does anything new:
 * open spend reservations (counted as spent: the API may have billed them), tasks caught running
 * (interrupted, never silently re-run), applies/undos cut short, approvals caught mid-apply.
 */
export async function recoverAfterStop(d: {
  db: Db;
  model: ModelClient;
  tasks: TaskStore;
  approvals: ApprovalQueue;
  log: Logger;
  onInterrupted(t: TaskRow): void;
}): Promise<void> {
  const reconciled = d.model.ledger.reconcileOpenReservations(Date.now());
  if (reconciled.count) d.log.warn({ count: reconciled.count, usd: formatUsd(reconciled.micro) }, 'open spend reservations from before the last stop counted as spent');
  for (const t of d.tasks.interruptRunning(new Date().toISOString())) d.onInterrupted(t);
  for (const p of await recoverInterruptedApplies({ db: d.db, onBeforeWrite: () => undefined })) {
    d.log.warn({ proposal: p.id, state: p.state, kept: p.kept }, 'finished an apply/undo the last stop interrupted');
  }
  for (const a of d.approvals.recoverInterrupted()) d.log.warn({ approval: a.id, state: a.state }, 'settled an approval the last stop interrupted');
  // A stop between an undo's file writes and its bookkeeping (or an old store) leaves tasks behind their proposals.
  const followed = d.db.transaction(() => followAll(d.db, new Date().toISOString(), 'caught up with its proposal on start'))();
  if (followed.length) d.log.info({ tasks: followed.map((t) => `${t.taskId}: ${t.from} → ${t.to}`) }, 'tasks caught up with their proposals');
}

/**
 * The longest the expiry timer sleeps while an approval is pending. Node's timers run on the monotonic
 * clock, which stands still while a laptop sleeps: a wake-up now and then bounds how late an expiry
 * found after a resume can be. Nothing pending, no timer at all.
 */
const MAX_EXPIRY_WAIT_MS = 5 * 60_000;

export interface ApprovalExpiry {
  /** A new approval was queued: the timer is armed for it if it is due before the one already set. */
  queued(expiresAt: string): void;
  stop(): void;
}

/**
 * Expired approvals are denied (fail closed): once now, then when the next pending approval is due.
 * An idle daemon with nothing pending is never woken by it. A decision checks expiry itself (see
 * ApprovalQueue), so a late timer only delays the discard and the notice, never lets an expired one through.
 */
export function startApprovalExpiry(approvals: ApprovalQueue, log: Logger, maxWaitMs = MAX_EXPIRY_WAIT_MS): ApprovalExpiry {
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let stopped = false;
  let running: Promise<void> | undefined;
  const nextDue = (): number => {
    const at = new ApprovalStore(approvals.db).nextPendingExpiry();
    return at === null ? Infinity : Date.parse(at);
  };
  const arm = (at: number): void => {
    if (stopped || at >= timerAt || at === Infinity) return;
    clearTimeout(timer);
    // +1: a timer may fire a hair before the wall clock reaches the expiry it was set for.
    const wait = Math.min(Math.max(0, at - Date.now()) + 1, maxWaitMs);
    timerAt = Date.now() + wait;
    timer = setTimeout(() => {
      timer = undefined;
      timerAt = Infinity;
      expire();
    }, wait);
    timer.unref();
  };
  const expire = (): void => {
    if (stopped) return;
    let failed = false;
    running ??= approvals
      .expireDue()
      .then(
        (rs) => {
          for (const r of rs) log.info({ approval: r.approval.id, discard_error: r.discardError }, 'approval expired (denied: nobody answered in time)');
        },
        (e: Error) => {
          failed = true;
          log.error({ err: e.message }, 'expiring approvals failed');
        },
      )
      .finally(() => {
        running = undefined;
        try {
          // Something still due right after a run (a failure, a clock step) is retried later, not in a loop.
          arm(Math.max(nextDue(), Date.now() + (failed ? 60_000 : 1000)));
        } catch (e) {
          log.error({ err: messageOf(e) }, 'expiring approvals failed');
        }
      });
  };
  expire();
  return {
    queued: (expiresAt) => {
      // While a run is under way it re-arms from the store when it ends, which includes this one.
      if (!running) arm(Date.parse(expiresAt));
    },
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
