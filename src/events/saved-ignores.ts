import type { RawChange } from './disk-check.js';
import { isIgnoreFile } from './ignore-rules.js';
import { sameDirList } from './tree-scan.js';
import { ignoreInputs, type Baseline } from './tree-snapshot.js';

/**
 * Whether a restart may keep the ignored folders its snapshot was taken under, without walking the
 * tree before it is ready: nothing that decides them can have changed while Kairos was stopped.
 * The ignore files inside the watched tree are in the offline comparison itself (a `.gitignore`
 * added, edited or removed is a change like any other); the policy's patterns and
 * `.git/info/exclude` (inside `.git`, never watched) are compared with what the snapshot saved.
 * What this cannot see, a folder created meanwhile that a pattern ignores, only costs its watches
 * until the walk that follows the start finds it (its events are filtered by the rules meanwhile).
 */
export function savedIgnoresHold(repo: string, base: Extract<Baseline, { usable: true }>, policyIgnore: readonly string[], offline: readonly RawChange[]): boolean {
  if (!base.ignoredDirs || !base.rules) return false;
  const now = ignoreInputs(repo, policyIgnore);
  return now.excludeMtimeMs === base.rules.excludeMtimeMs && sameDirList(now.policyIgnore, base.rules.policyIgnore) && !offline.some((c) => isIgnoreFile(c.rel));
}
