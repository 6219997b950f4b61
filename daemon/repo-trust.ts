import type { StoredEvent } from '../src/events/event.js';
import type { AuditLog } from '../src/policy/audit.js';
import type { RepoPolicy } from '../src/policy/effective.js';
import { PINNED_PATHS } from '../src/policy/trust.js';

/**
 * When the daemon must re-read a repository's policy and trust: after every git event (a pull,
 * checkout, merge, reset or rebase can bring new policy or hook files without any single file event
 * the watcher is sure to see), and after a file event on a pinned path or anywhere under `.kairos/`.
 * The daemon's own writes count too: an approved proposal may change `.kairos/policy.yaml`.
 */
export function touchesTrust(e: Pick<StoredEvent, 'type'> & { path?: string | undefined }): boolean {
  if (e.type.startsWith('git.')) return true;
  if (!e.type.startsWith('file.') || !e.path) return false;
  const p = e.path;
  return p.startsWith('.kairos/') || PINNED_PATHS.some((pinned) => p === pinned || p.startsWith(`${pinned}/`));
}

/** Whether the re-read policy differs from the one in use (so triggers, cron and status must follow). */
export function policyChanged(before: RepoPolicy, after: RepoPolicy): boolean {
  return before.trust !== after.trust || before.error !== after.error || JSON.stringify(before.policy) !== JSON.stringify(after.policy);
}

/** A repository's policy as (re-)read, in the audit: validate says whether it parsed, trust what its state allows. */
export function auditRepoPolicy(audit: AuditLog, repo: string, p: RepoPolicy, why: string): void {
  const trust =
    p.trust === 'trusted'
      ? { decision: 'allow' as const, reason: 'trusted as pinned' }
      : {
          decision: 'deny' as const,
          reason: p.trust === 'changed' ? "its policy or hook files changed since the user trusted it: the repository's own triggers, allow rules and model work are off" : "not trusted: its policy may only tighten the user's",
        };
  const validate = p.error ? { decision: 'deny' as const, reason: p.error } : { decision: 'allow' as const };
  audit.record({ repo, origin: 'daemon', action: { type: 'reload', detail: `repository policy (${why}): ${p.trust}` } }, { validate, trust });
}
