import type { StartGate } from '../src/pipeline/runner.js';
import { checkGate } from '../src/policy/gate.js';
import { gateConfig } from '../src/policy/layer-context.js';
import type { Policy } from '../src/policy/schema.js';
import type { TaskRow, TaskStore } from '../src/store/task-store.js';

/**
 * Pause, quiet hours, rate limits and edit back-off hold automatic work (it waits, it is not
 * dropped); what the user asked for themselves (a poke) runs now.
 */
export function gateTaskStart(task: TaskRow, d: { policy: Policy; tasks: TaskStore; lastUserEdit: Date | undefined; paused: boolean }): StartGate {
  if (task.batch_id !== null && d.tasks.batchHasPoke(task.batch_id)) return { go: true };
  const now = new Date();
  const verdict = checkGate(
    task.trigger,
    gateConfig(d.policy),
    {
      recentStarts: d.tasks.startsSince(task.repo, new Date(now.getTime() - 3_600_000).toISOString()),
      ...(d.lastUserEdit ? { lastUserEditAt: d.lastUserEdit } : {}),
      paused: d.paused,
    },
    now,
  );
  if (verdict.decision === 'allow') return { go: true };
  const retryAt = 'retryAt' in verdict && verdict.retryAt ? Date.parse(verdict.retryAt) : undefined;
  return { go: false, reason: verdict.reason ?? 'held', ...(retryAt !== undefined ? { retryAt } : {}) };
}
