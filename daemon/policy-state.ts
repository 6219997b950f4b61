import { auditRepoPolicy } from './repo-trust.js';
import { ALL_REPOS } from '../src/policy/audit.js';
import type { Policy } from '../src/policy/schema.js';
import type { Db } from '../src/store/db.js';
import type { Logger } from '../src/report/logger.js';
import { loadPluginPolicy, type PluginReport } from '../src/agent/plugin-policy.js';
import { pluginTrustStatus } from '../src/agent/plugins/trust.js';
import { startRepoCron } from './repo-watch.js';
import { loadUserPolicy, resolveRepoPolicy } from '../src/policy/effective.js';
import { messageOf } from '../src/core/errors.js';
import type { DaemonParts } from './daemon-parts.js';

export interface PolicyStateDeps {
  home: string;
  log: Logger;
  /** The store: a plugin's explicit trust is kept there. */
  db: Db;
  /** The rest of the daemon, read when a reload happens (the policy is loaded before the parts are made). */
  parts: () => Pick<DaemonParts, 'audit' | 'reporter' | 'repos' | 'ingest' | 'ambient' | 'hooks' | 'runner'>;
}

/** The user's policy in force (with their plugins'), its reloads, and what status says of them. */
export class PolicyState {
  userPolicy: Policy;
  /** What the plugins came to at the last load (status shows refused rules). */
  pluginReport: PluginReport = { plugins: [], errors: [] };
  /** The user's policy in force, before the plugins were added to it. */
  private policyWithoutPlugins!: Policy;
  policyLoadedAt = new Date();
  lastReload: { ok: boolean; error: string | null; at: string } | null = null;

  constructor(private readonly d: PolicyStateDeps) {
    this.userPolicy = this.withPlugins(loadUserPolicy(d.home));
  }

  private get log(): Logger {
    return this.d.log;
  }

  /** Re-reads the user's and every repository's policy; an invalid user policy keeps the old one. */
  reload(): { ok: boolean; error?: string } {
    const p = this.d.parts();
    const at = new Date();
    try {
      this.userPolicy = this.withPlugins(loadUserPolicy(this.d.home));
    } catch (e) {
      const error = messageOf(e);
      // Said once per distinct error: an editor saving the same broken file twice is not news.
      if (this.lastReload?.error !== error) p.reporter.policyReloadFailed(error);
      this.lastReload = { ok: false, error, at: at.toISOString() };
      p.audit.record({ repo: ALL_REPOS, origin: 'user', action: { type: 'reload', detail: 'user policy' } }, { validate: { decision: 'deny', reason: `invalid, the previous policy stays: ${error}` } });
      return { ok: false, error };
    }
    if (this.lastReload && !this.lastReload.ok) p.reporter.policyReloadFixed();
    this.policyLoadedAt = at;
    this.lastReload = { ok: true, error: null, at: at.toISOString() };
    this.log.info({ triggers: this.userPolicy.triggers.map((t) => t.name) }, 'policy reloaded');
    p.audit.record({ repo: ALL_REPOS, origin: 'user', action: { type: 'reload', detail: 'user policy' } }, { validate: { decision: 'allow', reason: 'the user policy parsed' } });
    for (const r of p.repos.values()) {
      r.policy = resolveRepoPolicy(this.d.db, this.userPolicy, r.path);
      auditRepoPolicy(p.audit, r.path, r.policy, 'reload');
      p.reporter.policyProblems(r.path, r.policy);
      r.cron?.stop();
      r.cron = startRepoCron(r.path, r.policy, this.d.db, this.log, (d) => void p.ingest([d]));
    }
    p.ambient.restartDream();
    p.hooks.reset();
    p.runner.retryDeferred();
    return { ok: true };
  }

  /**
   * A trusted plugin whose files changed since its trust loses its allow rules before anything
   * else runs under them, even when no watcher saw the change: reloads, and returns true, then.
   */
  recheckPluginTrust(): boolean {
    const stale = this.pluginReport.plugins.some((p) => p.trust === 'trusted' && pluginTrustStatus(this.d.db, p.dir) !== 'trusted');
    if (!stale) return false;
    if (!this.reload().ok) {
      // The policy file is broken just now: the plugins are applied again to the policy in force.
      this.userPolicy = this.withPlugins(this.policyWithoutPlugins);
      for (const r of this.d.parts().repos.values()) r.policy = resolveRepoPolicy(this.d.db, this.userPolicy, r.path);
    }
    return true;
  }

  /** The user's policy with their plugins' triggers, rules and MCP servers; what was refused is kept for status. */
  private withPlugins(policy: Policy): Policy {
    this.policyWithoutPlugins = policy;
    const r = loadPluginPolicy(policy, this.d.home, this.d.log, this.d.db);
    this.pluginReport = r.report;
    return r.policy;
  }
}
