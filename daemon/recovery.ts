import { recoverInterruptedApplies } from '../src/agent/apply.js';
import type { ModelClient } from '../src/model/client.js';
import { formatUsd } from '../src/model/prices.js';
import type { ApprovalQueue } from '../src/pipeline/approvals.js';
import type { Db } from '../src/store/db.js';
import type { TaskRow, TaskStore } from '../src/store/task-store.js';
import type { Logger } from '../src/report/logger.js';
import { followAll } from '../src/pipeline/task-follow.js';

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

/** Expired approvals are denied (fail closed): once now, then every minute. Returns the timer. */
export function startApprovalExpiry(approvals: ApprovalQueue, log: Logger): NodeJS.Timeout {
  const expire = (): void => {
    void approvals.expireDue().then(
      (rs) => {
        for (const r of rs) log.info({ approval: r.approval.id, discard_error: r.discardError }, 'approval expired (denied: nobody answered in time)');
      },
      (e: Error) => log.error({ err: e.message }, 'expiring approvals failed'),
    );
  };
  expire();
  const timer = setInterval(expire, 60_000);
  timer.unref();
  return timer;
}
