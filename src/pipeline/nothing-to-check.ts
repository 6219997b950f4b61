import type { Db } from '../store/db.js';
import { commitEventData } from '../store/recent-activity.js';
import { generatedPaths } from './generated-files.js';
import { describeInert, inertSince } from './inert-changes.js';
import { isRecord } from '../core/record.js';

/**
 * The decide stage's content heuristics, run only when a look is otherwise about to be made (they
 * read files and run git, so not on every save): an item whose substantive files are all generated,
 * or whose every changed line is formatting, comments or release bookkeeping, sleeps without a
 * model (src/pipeline/generated-files.ts, src/pipeline/inert-changes.ts). Returns the reason for
 * the decision, or undefined when the item is worth a look.
 */

/** The most commit events read for an item's base (the oldest one's parent). */
const MAX_BASE_COMMITS = 10_000;

export interface ItemChanges {
  repo: string;
  eventIds: readonly number[];
  eventTypes: readonly string[];
}

/**
 * What the files held before the item: the parent of its oldest commit, or HEAD when it holds saves
 * alone. Undefined when the item holds a git operation that moved the work tree (checkout, merge,
 * pull, rebase, reset, stash): the files then came from elsewhere, and a diff against one commit
 * would not say what changed.
 */
export function itemBase(db: Db, item: ItemChanges): string | undefined {
  if (item.eventTypes.some((t) => t.startsWith('git.') && t !== 'git.commit')) return undefined;
  if (!item.eventTypes.includes('git.commit')) return 'HEAD';
  const oldest = commitEventData(db, item.repo, item.eventIds, MAX_BASE_COMMITS).at(-1);
  if (oldest === undefined) return undefined;
  try {
    const d: unknown = JSON.parse(oldest);
    // A first commit has no parent to diff against: a look.
    return isRecord(d) && typeof d.from === 'string' && /^[0-9a-f]{7,64}$/i.test(d.from) ? d.from : undefined;
  } catch {
    return undefined;
  }
}

export async function nothingToCheck(db: Db, item: ItemChanges, substantive: readonly string[]): Promise<string | undefined> {
  if (!substantive.length) return undefined;
  const generated = await generatedPaths(item.repo, substantive);
  const rest = substantive.filter((p) => !generated.has(p));
  if (!rest.length) return `only generated files changed (${generated.size}, marked by .gitattributes or a generator's header): nothing for an agent to check`;
  const base = itemBase(db, item);
  if (base === undefined) return undefined;
  const v = await inertSince(item.repo, base, rest);
  if (!v.inert) return undefined;
  // Saved or committed again, but the same bytes as before the item: touched, not changed.
  if (!v.kinds.length) return `the ${rest.length} file${rest.length === 1 ? '' : 's'} touched hold what they held before: nothing changed`;
  const besides = generated.size ? ` (and ${generated.size} generated file${generated.size === 1 ? '' : 's'})` : '';
  return `only ${describeInert(v.kinds)} changed in ${rest.length} file${rest.length === 1 ? '' : 's'}${besides}: nothing for an agent to check`;
}
