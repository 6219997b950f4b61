import type { DecisionReport } from '../src/pipeline/decision-report.js';
import type { DbusNotifier } from '../src/report/dbus-notify.js';
import type { Logger } from '../src/report/logger.js';
import type { Trigger } from '../src/policy/schema.js';
import type { TaskStore } from '../src/store/task-store.js';
import { approvalTaskNumber } from '../src/store/approval-store.js';
import type { DaemonHooks } from './daemon-hooks.js';
import type { Reporter } from './reporter.js';

export interface DecisionFollowUpDeps {
  reporter: Reporter;
  /** The proposal notifier, when there is one (its notifications are withdrawn once decided). */
  proposals: () => DbusNotifier | null;
  hooks: DaemonHooks;
  tasks: TaskStore;
  /** The enabled trigger of that name in that repository's policy now. */
  triggerFor(repo: string, name: string): Trigger | undefined;
  enqueue(taskId: number): void;
  log: Logger;
}

/**
 * What follows a decision on a proposal, whoever made it (the CLI through the daemon, a
 * notification, the tray, the clock, a start-up recovery): the daily log, the notification
 * withdrawn from every screen, TaskApproved / TaskDenied hooks, and `after_apply: rerun`.
 */
export class DecisionFollowUp {
  constructor(private readonly d: DecisionFollowUpDeps) {}

  decided(r: DecisionReport): void {
    this.d.reporter.decision(r);
    // A collapsed duplicate leaves the waiting approval open: its notification stays.
    if (r.approval && r.kind !== 'collapse' && r.kind !== 'undo') void this.d.proposals()?.withdraw(r.approval.id);
    const a = r.approval;
    if (a && (r.kind === 'approve' || r.kind === 'deny' || r.kind === 'expire')) {
      this.d.hooks.decided(a.repo, r.kind === 'approve', { taskId: approvalTaskNumber(a), trigger: a.trigger, proposalId: a.proposalId, reason: a.reason ?? (r.kind === 'approve' ? 'approved' : r.kind === 'deny' ? 'denied' : 'expired') });
    }
    if (r.kind === 'approve' || r.kind === 'apply') this.rerun(r);
  }

  /** `after_apply: rerun`: the trigger's command runs again on the tree the fix was applied to. */
  private rerun(r: DecisionReport): void {
    if (!r.trigger || !r.repo) return;
    const trigger = this.d.triggerFor(r.repo, r.trigger);
    if (trigger?.after_apply !== 'rerun' || !trigger.run) return;
    const id = this.d.tasks.createFollowUp({ repo: r.repo, trigger: trigger.name, kind: 'command', command: trigger.run, batchId: null, at: new Date().toISOString(), data: { after_apply: r.id } });
    this.d.log.info({ task: id, trigger: trigger.name, approval: r.id }, 'after_apply: rerun — the trigger runs again on the applied fix');
    this.d.enqueue(id);
  }
}
