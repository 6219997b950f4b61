import type { Db } from './db.js';

/**
 * Pinned trust (src/policy/trust.ts for repositories, src/agent/plugins/trust.ts for plugin
 * folders): the digest the user trusted, stored in `repos` and `plugin_trust`. The callers hash the
 * files and decide; this module only keeps the pins.
 */

export interface RepoTrustPin {
  trusted_at: string | null;
  trusted_policy_sha: string | null;
}

/** Pins a repository's digest as trusted (adding the repository row if new). Callers run it in their transaction. */
export function pinRepoTrust(db: Db, repo: string, digest: string, at: string): void {
  db.prepare('INSERT OR IGNORE INTO repos (path, added_at) VALUES (?, ?)').run(repo, at);
  db.prepare('UPDATE repos SET trusted_at = ?, trusted_policy_sha = ? WHERE path = ?').run(at, digest, repo);
}

/** Forgets a repository's trust; returns whether it was trusted. */
export function unpinRepoTrust(db: Db, repo: string): boolean {
  return db.prepare('UPDATE repos SET trusted_at = NULL, trusted_policy_sha = NULL WHERE path = ? AND trusted_at IS NOT NULL').run(repo).changes > 0;
}

export function repoTrustPin(db: Db, repo: string): RepoTrustPin | undefined {
  return db.prepare<[string], RepoTrustPin>('SELECT trusted_at, trusted_policy_sha FROM repos WHERE path = ?').get(repo);
}

/** Runs fn in one IMMEDIATE transaction: a change of trust and its audit rows land together or not at all. */
export function inTrustTransaction<T>(db: Db, fn: () => T): T {
  return db.transaction(fn).immediate();
}

export function pinPluginTrust(db: Db, dir: string, name: string, digest: string, at: string): void {
  db.prepare(
    `INSERT INTO plugin_trust (dir, name, digest, trusted_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (dir) DO UPDATE SET name = excluded.name, digest = excluded.digest, trusted_at = excluded.trusted_at`,
  ).run(dir, name, digest, at);
}

/** Returns whether the folder was trusted. */
export function unpinPluginTrust(db: Db, dir: string): boolean {
  return db.prepare('DELETE FROM plugin_trust WHERE dir = ?').run(dir).changes > 0;
}

export function pluginTrustDigest(db: Db, dir: string): string | undefined {
  return db.prepare<[string], { digest: string }>('SELECT digest FROM plugin_trust WHERE dir = ?').get(dir)?.digest;
}
