import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../store/db.js';
import type { Policy, Trigger } from './schema.js';
import { loadPolicyFile, loadPolicyOrDefault, PolicyError } from './load.js';
import { mergeRepoPolicy } from './merge.js';
import { trustStatus } from './trust.js';
import { messageOf } from '../core/errors.js';

export interface RepoPolicy {
  policy: Policy;
  trust: 'untrusted' | 'trusted' | 'changed';
  /** What the repository's own policy asked for and did not get, with why. */
  refused: Array<{ what: string; why: string }>;
  /** Set when the repository's policy file is invalid: its triggers are all off until it is fixed. */
  error?: string;
}

export function repoPolicyFile(repo: string): string {
  return path.join(repo, '.kairos', 'policy.yaml');
}

/**
 * The effective policy of one repository: the user's policy, tightened (or, once trusted, extended)
 * by the repository's own `.kairos/policy.yaml`. An invalid repository file fails closed: no trigger
 * of that repository runs until it parses again.
 */
export function resolveRepoPolicy(db: Db, user: Policy, repo: string): RepoPolicy {
  const trust = trustStatus(db, repo);
  const file = repoPolicyFile(repo);
  if (!fs.existsSync(file)) return { policy: user, trust, refused: [] };
  let repoPolicy: Policy;
  try {
    repoPolicy = loadPolicyFile(file, { within: repo });
  } catch (e) {
    const error = e instanceof PolicyError ? e.message : `${file}: ${messageOf(e)}`;
    return { policy: { ...user, triggers: [] }, trust, refused: [], error };
  }
  const { policy, refused } = mergeRepoPolicy(user, repoPolicy, { trusted: trust === 'trusted' });
  return { policy, trust, refused };
}

export function loadUserPolicy(home: string): Policy {
  return loadPolicyOrDefault(home);
}

export function enabledTriggers(p: RepoPolicy): Trigger[] {
  return p.policy.triggers.filter((t) => t.enabled);
}
