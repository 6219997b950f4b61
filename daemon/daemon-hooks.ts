import type { Db } from '../src/store/db.js';
import type { ThresholdCrossing } from '../src/model/ledger.js';
import type { Logger } from '../src/report/logger.js';
import path from 'node:path';
import { createHooks, loadHookSources, type Hooks, type HookEventName } from '../src/agent/hooks.js';
import { loadUserPlugins, pluginHookSources } from '../src/agent/plugins.js';
import { trustStatus } from '../src/policy/trust.js';
import type { ChangedFile } from './file-changed.js';
import { hookMessageSink } from './hook-messages.js';
import { messageOf } from '../src/core/errors.js';

/**
 * Hooks for the daemon's own events, outside any agent session: EventSettled (a block drops the
 * batch), FileChanged (once per settled batch of changed files), UserPromptSubmit (a poke's note),
 * TaskApproved / TaskDenied, BudgetThreshold. Sources are the user's $KAIROS_HOME/hooks.json, the
 * plugins', and, for a trusted repository, its own settings. A hook's failure is a warning, never
 * the daemon's; a hook's systemMessage reaches the user (hook-messages.ts).
 */
export class DaemonHooks {
  /** null: the repository's hook settings are broken (said once, until the next reset). */
  private readonly perRepo = new Map<string, Hooks | null>();

  constructor(private readonly d: { db: Db; home: string; log: Logger; notify(title: string, body: string): void; daily(text: string, repo?: string): void }) {}

  /** Re-read on policy reload and when trust changes. */
  reset(): void {
    this.perRepo.clear();
  }

  /** Whether a hook is configured for this event in this repository (undefined: the user's own hooks only). */
  has(repo: string | undefined, event: HookEventName): boolean {
    return this.hooks(repo)?.has(event) ?? false;
  }

  /** `repo` undefined: the user's hooks.json and plugins, for what concerns no one repository. */
  private hooks(repo: string | undefined): Hooks | undefined {
    const key = repo ?? '';
    let h = this.perRepo.get(key);
    if (h === null) return undefined;
    if (!h) {
      try {
        const plugins = loadUserPlugins(this.d.home, this.d.db);
        h = createHooks({
          sources: loadHookSources({
            kairosHome: this.d.home,
            ...(repo ? { repoDir: repo } : {}),
            repoTrusted: repo !== undefined && trustStatus(this.d.db, repo) === 'trusted',
            extra: pluginHookSources(plugins.plugins),
          }),
          projectDir: repo ?? this.d.home,
          sessionId: 'kairos-daemon',
          pluginDataRoot: path.join(this.d.home, 'plugin-data'),
          onSystemMessage: hookMessageSink(this.d, { ...(repo ? { repo } : {}), title: 'Kairos: hook' }),
        });
      } catch (e) {
        this.d.log.warn({ repo, err: messageOf(e) }, 'hooks not loaded for daemon events');
        this.perRepo.set(key, null);
        return undefined;
      }
      this.perRepo.set(key, h);
    }
    return h;
  }

  /** Once per settled batch of changed files (file-changed.ts); each hook gets the files its matcher accepts. */
  fileChanged(repo: string, files: readonly ChangedFile[]): void {
    const h = this.hooks(repo);
    if (!h?.has('FileChanged') || files.length === 0) return;
    const list = files.slice(0, 1000).map((f) => ({ file_path: path.join(repo, f.path), path: f.path, event: f.event }));
    void h.fire('FileChanged', { file_path: list[0]!.file_path, event: list[0]!.event, files: list }).then((o) => this.warn(repo, o.warnings), (e: unknown) => this.failed(repo, 'FileChanged', e));
  }

  /**
   * A poke's note, before any model sees it (Claude Code's UserPromptSubmit): a block refuses the
   * poke with the hook's reason; context a hook adds (additionalContext, or plain stdout) goes with
   * the note.
   */
  async userPromptSubmit(repo: string | undefined, note: string): Promise<{ blocked: string } | { note: string }> {
    const h = this.hooks(repo);
    if (!h?.has('UserPromptSubmit')) return { note };
    const out = await h.fire('UserPromptSubmit', { prompt: note });
    this.warn(repo ?? this.d.home, out.warnings);
    if (out.decision === 'block' || out.stop) {
      const reason = out.reason ?? out.stop?.reason ?? 'no reason given';
      this.d.log.info({ repo, reason }, 'a UserPromptSubmit hook blocked a poke');
      this.d.daily(`a UserPromptSubmit hook blocked the note of a poke: ${reason}`, repo);
      return { blocked: reason };
    }
    if (!out.additionalContext) return { note };
    // A manual event's note holds at most 2000 characters (src/events/event.ts): the note first, then what fits of the context.
    return { note: `${note}\n\nContext from the developer's hooks:\n${out.additionalContext}`.slice(0, 2000) };
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
    void h.fire(event, payload).then((o) => this.warn(repo, o.warnings), (e: unknown) => this.failed(repo, event, e));
  }

  budgetThreshold(repos: readonly string[], c: ThresholdCrossing): void {
    const payload = { cap: c.cap, spent_usd: c.spentMicro / 1e6, limit_usd: c.capMicro / 1e6, fraction: c.percent / 100 };
    // The budget is the user's, not a repository's: their own hooks.json, fired once.
    const h = repos[0] ? this.hooks(repos[0]) : undefined;
    if (h?.has('BudgetThreshold')) void h.fire('BudgetThreshold', payload).then((o) => this.warn(repos[0]!, o.warnings), (e: unknown) => this.failed(repos[0], 'BudgetThreshold', e));
  }

  /** fire() rejects only for Kairos's own fault (a payload it could not build): logged, never the daemon's stop. */
  private failed(repo: string | undefined, event: HookEventName, e: unknown): void {
    this.d.log.warn({ repo, event, err: messageOf(e) }, 'hooks not run');
  }

  private warn(repo: string | undefined, warnings: readonly string[]): void {
    for (const w of warnings) this.d.log.warn({ repo, hook: w }, 'hook warning');
  }
}
