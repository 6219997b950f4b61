import type { Db } from '../src/store/db.js';
import type { ThresholdCrossing } from '../src/model/ledger.js';
import type { Logger } from '../src/report/logger.js';
import { createHooks, loadHookSources, type Hooks } from '../src/agent/hooks.js';
import { trustStatus } from '../src/policy/trust.js';

/**
 * Hooks for the daemon's own events, outside any agent session: EventSettled (a block drops the
 * batch), TaskApproved / TaskDenied, BudgetThreshold. Sources are the user's $KAIROS_HOME/hooks.json
 * and, for a trusted repository, its own settings. A hook's failure is a warning, never the daemon's.
 */
export class DaemonHooks {
  private readonly perRepo = new Map<string, Hooks>();

  constructor(private readonly d: { db: Db; home: string; log: Logger }) {}

  /** Re-read on policy reload and when trust changes. */
  reset(): void {
    this.perRepo.clear();
  }

  private hooks(repo: string): Hooks | undefined {
    let h = this.perRepo.get(repo);
    if (!h) {
      try {
        h = createHooks({
          sources: loadHookSources({ kairosHome: this.d.home, repoDir: repo, repoTrusted: trustStatus(this.d.db, repo) === 'trusted' }),
          projectDir: repo,
          sessionId: 'kairos-daemon',
        });
      } catch (e) {
        this.d.log.warn({ repo, err: (e as Error).message }, 'hooks not loaded for daemon events');
        return undefined;
      }
      this.perRepo.set(repo, h);
    }
    return h;
  }

  /** False when a hook blocks the settled batch (it is dropped, as its event was). */
  async eventSettled(repo: string, trigger: string, paths: readonly string[]): Promise<boolean> {
    const h = this.hooks(repo);
    if (!h?.has('EventSettled')) return true;
    const out = await h.fire('EventSettled', { event_type: 'batch', trigger, paths: [...paths].slice(0, 1000) });
    this.warn(repo, out.warnings);
    if (out.decision === 'block') this.d.log.info({ repo, trigger, reason: out.reason }, 'an EventSettled hook dropped the batch');
    return out.decision !== 'block';
  }

  decided(repo: string, approved: boolean, a: { taskId?: number | null; trigger?: string | null; proposalId?: string | null; reason?: string | null }): void {
    const h = this.hooks(repo);
    const event = approved ? 'TaskApproved' : 'TaskDenied';
    if (!h?.has(event)) return;
    const payload = {
      task_id: String(a.taskId ?? 'none'),
      ...(a.trigger ? { trigger: a.trigger } : {}),
      ...(a.proposalId ? { proposal_id: a.proposalId } : {}),
      ...(!approved && a.reason ? { reason: a.reason } : {}),
    };
    void h.fire(event, payload).then((o) => this.warn(repo, o.warnings), () => undefined);
  }

  budgetThreshold(repos: readonly string[], c: ThresholdCrossing): void {
    const payload = { cap: c.cap, spent_usd: c.spentMicro / 1e6, limit_usd: c.capMicro / 1e6, fraction: c.percent / 100 };
    // The budget is the user's, not a repository's: their own hooks.json, fired once.
    const h = repos[0] ? this.hooks(repos[0]) : undefined;
    if (h?.has('BudgetThreshold')) void h.fire('BudgetThreshold', payload).then((o) => this.warn(repos[0]!, o.warnings), () => undefined);
  }

  private warn(repo: string, warnings: readonly string[]): void {
    for (const w of warnings) this.d.log.warn({ repo, hook: w }, 'hook warning');
  }
}
