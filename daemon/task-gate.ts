import type { StartGate } from '../src/pipeline/runner.js';
import type { AuditLog } from '../src/policy/audit.js';
import { allow, deny, type Step, type Verdict } from '../src/policy/decision.js';
import { checkGate } from '../src/policy/gate.js';
import { gateConfig, layerContext } from '../src/policy/layer-context.js';
import { evaluateStep, type Evaluation } from '../src/policy/layers.js';
import { NO_SANDBOX } from '../src/policy/sandbox.js';
import type { Policy } from '../src/policy/schema.js';
import type { TrustStatus } from '../src/policy/trust.js';
import { triggerTrustLayer } from '../src/policy/trust-layer.js';
import type { TaskRow, TaskStore } from '../src/store/task-store.js';

export interface TaskStartContext {
  policy: Policy;
  tasks: TaskStore;
  lastUserEdit: Date | undefined;
  paused: boolean;
  /** The repository's trust as re-resolved just now, and whether the task's trigger is the repository's own. */
  trust: TrustStatus;
  fromRepo: boolean;
  audit: AuditLog;
  kairosHome: string;
}

/** Not called for these steps (notApplicableReason): a task start or a trigger's command costs nothing. */
const NO_SPEND = (): Verdict => deny('the spend layer decides model calls only');

/**
 * Starting a task, through the layers and into the audit. Pause, quiet hours, rate limits and edit
 * back-off hold automatic work (it waits, it is not dropped); what the user asked for themselves (a
 * poke) passes the gate now. A trigger that lost its trust is skipped, with the reason, never run.
 */
export function gateTaskStart(task: TaskRow, d: TaskStartContext): StartGate {
  const now = new Date();
  const poked = task.batch_id !== null && d.tasks.batchHasPoke(task.batch_id);
  const gate = poked
    ? allow('asked for now by the user (kairos poke)')
    : checkGate(
        task.trigger,
        gateConfig(d.policy),
        {
          recentStarts: d.tasks.startsSince(task.repo, new Date(now.getTime() - 3_600_000).toISOString()),
          ...(d.lastUserEdit ? { lastUserEditAt: d.lastUserEdit } : {}),
          paused: d.paused,
        },
        now,
      );
  const kind = task.kind === 'command' || task.kind === 'agent' ? task.kind : 'notify';
  const step: Step = { repo: task.repo, taskId: task.id, trigger: task.trigger, origin: 'trigger', action: { type: 'task', kind } };
  const ev = evaluateStep(step, layerContext({ policy: d.policy, kairosHome: d.kairosHome, sandbox: NO_SANDBOX, attended: false, now }), {
    trust: triggerTrustLayer(d.trust, d.fromRepo),
    spend: NO_SPEND,
    gate: () => gate,
    audit: d.audit,
  });
  const v = ev.verdict;
  if (v.decision === 'allow') return { go: true };
  const reason = v.reason ?? 'held';
  if (ev.decidedBy === 'gate') {
    const retryAt = v.decision === 'deny' && v.retryAt ? Date.parse(v.retryAt) : undefined;
    return { go: false, reason, ...(retryAt !== undefined ? { retryAt } : {}) };
  }
  return { go: false, skip: true, reason: `not run: ${reason}` };
}

/**
 * A trigger's `run:` command, checked and audited right before it runs (trust re-read from disk now,
 * the pause switch now). A deny means the command does not run.
 */
export function evaluateRunStep(task: TaskRow, command: string, d: Omit<TaskStartContext, 'tasks' | 'lastUserEdit'>): Evaluation {
  const step: Step = { repo: task.repo, taskId: task.id, trigger: task.trigger, origin: 'trigger', action: { type: 'run', command } };
  return evaluateStep(step, layerContext({ policy: d.policy, kairosHome: d.kairosHome, sandbox: NO_SANDBOX, attended: false, gateState: { recentStarts: [], paused: d.paused } }), {
    trust: triggerTrustLayer(d.trust, d.fromRepo),
    spend: NO_SPEND,
    audit: d.audit,
  });
}
