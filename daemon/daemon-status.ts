import { pauseStatus } from '../src/pipeline/approvals.js';
import { spendReport } from '../src/model/spend-report.js';
import { repoStatus } from './repo-watch.js';
import { dreamStatus, memoryStatus } from '../src/pipeline/dream.js';
import type { DaemonParts } from './daemon-parts.js';

/** What `kairos status` (and the tray) show of the live daemon: the control method `status`. */
export function daemonStatus(p: DaemonParts): Record<string, unknown> {
  p.policy.recheckPluginTrust();
  const pause = pauseStatus(p.db);
  const moneyPause = p.model.paused() ?? null;
  // Held: what the runner holds now (a row's hold can be stale for a moment after a resume, while the task waits for a free slot).
  const deferred = new Set(p.runner.deferredTaskIds());
  return {
    pid: process.pid,
    home: p.home,
    started_at: p.startedAt.toISOString(),
    model_steps: {
      enabled: p.model.modelStepsEnabled,
      reason: p.model.modelStepsEnabled ? 'ANTHROPIC_API_KEY is set' : p.model.disabledReason,
      paused: moneyPause,
      state: !p.model.modelStepsEnabled ? 'off' : pause.paused ? 'paused' : moneyPause ? 'budget' : 'on',
    },
    state: p.indexing() ? 'indexing' : 'ready',
    repos: [...p.repos.values()].map((r) => (p.refreshPolicy(r.path, 'status'), { ...repoStatus(r), memory: memoryStatus(p.db, p.home, r.path) })),
    dream: dreamStatus(p.userPolicy(), Date.now()),
    pending: p.settler.pending(),
    running: p.runner.runningTaskIds(),
    queued: p.tasks.queued().map((t) => t.id),
    held: p.runner.deferredTaskIds(),
    ambient: p.ambient.pending(),
    paused: pause.paused,
    pause,
    held_tasks: p.tasks.held().filter((t) => deferred.has(t.id)),
    spend: spendReport(p.db, p.userPolicy().budget, Date.now()),
    events: p.events.count(),
    store: p.guard.health(),
    policy: { loaded_at: p.policy.policyLoadedAt.toISOString(), last_reload: p.policy.lastReload },
    plugins: p.policy.pluginReport,
  };
}
