import type { Db } from '../store/db.js';
import { commitEventData } from '../store/recent-activity.js';
import { changedPaths } from '../events/git-changed-paths.js';
import { isDocumentation } from './doc-paths.js';
import { isCheckFile } from './path-kinds.js';

/**
 * What changed, told to triage within a bounded size. An item can hold a whole session — the saves
 * parked while the user typed and several commits, merged in the queue — with hundreds of paths.
 * Listing the first 40 (as triage once did) hid whole commits from the model: on a replayed
 * gemini-cli day a look at 300 paths named only the first commit's files, and the commit that broke
 * the build next to it was never seen. So the list is chosen, not cut:
 *
 *   - every commit of the item gets a share, newest first, round-robin, so none is hidden;
 *   - within a commit, the files it was last to change come first (a file a later commit changed
 *     again is that commit's news), and among them check files (manifests, CI, tests) before code,
 *     code before documentation;
 *   - what is not listed is summarised by folder, with counts;
 *   - the commits' subjects go in the context (as untrusted data: a commit message is hostile).
 */

/** The most paths listed one by one; the rest are counted by folder. About 10 tokens a path. */
export const MAX_LISTED_PATHS = 60;
/** The most commits named with their subject; older ones are counted. */
export const MAX_LISTED_COMMITS = 20;
const MAX_FOLDERS = 12;

export interface CommitChange {
  sha: string;
  /** First line of the message ('' when git gave none). */
  subject: string;
  /** Files the commit changed (git's own list). */
  paths: string[];
}

/** The most commits whose files are read from git for one look (one `git diff` each); older ones' files count with the saves. */
export const MAX_READ_COMMITS = 50;

/** The newest commits among `eventIds` (at most MAX_READ_COMMITS), oldest first, each with the files it changed (read from git). */
export function commitsOf(db: Db, repo: string, eventIds: readonly number[]): CommitChange[] {
  if (!eventIds.length) return [];
  return commitEventData(db, repo, eventIds, MAX_READ_COMMITS).reverse().flatMap((data) => {
    const d = commitFields(data);
    if (typeof d.to !== 'string') return [];
    const paths = typeof d.from === 'string' ? (changedPaths(repo, d.from, d.to) ?? []) : [];
    const subject = typeof d.message === 'string' ? (d.message.split('\n')[0] ?? '').trim() : '';
    return [{ sha: d.to, subject, paths }];
  });
}

/** A stored git.commit event's fields this needs, each checked (the row is read back, not trusted). */
function commitFields(data: string): { from?: unknown; to?: unknown; message?: unknown } {
  try {
    const d: unknown = JSON.parse(data);
    return typeof d === 'object' && d !== null ? { ...d } : {};
  } catch {
    return {}; // a damaged row names no commit; the look still lists the item's saves
  }
}

export interface ChangeSummary {
  /** The paths named one by one, at most `limit`. */
  listed: string[];
  /** "folder/ (count)" for the changed paths not listed; empty when all are listed. */
  unlisted: string;
  /** One line per commit, newest first: "- abc1234 subject (N files)". */
  commitLines: string[];
}

/** How telling a path is for a look: check files first, documentation last. */
function rank(p: string): number {
  if (isCheckFile(p)) return 0;
  return isDocumentation(p) ? 2 : 1;
}

/** The folder a path is counted under: its first two levels ("packages/core/"), or "(top level)". */
function folderOf(p: string): string {
  const parts = p.split('/');
  if (parts.length === 1) return '(top level)';
  return `${parts.slice(0, Math.min(2, parts.length - 1)).join('/')}/`;
}

export function summariseChanges(paths: readonly string[], commits: readonly CommitChange[], limit = MAX_LISTED_PATHS): ChangeSummary {
  const inItem = new Set(paths);
  // Each path goes to the newest commit that changed it; paths no commit names are the saves.
  const groups: string[][] = [];
  const claimed = new Set<string>();
  for (const c of [...commits].reverse()) {
    const own = c.paths.filter((p) => inItem.has(p) && !claimed.has(p));
    for (const p of own) claimed.add(p);
    groups.push(own);
  }
  groups.push(paths.filter((p) => !claimed.has(p)));
  for (const g of groups) g.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));

  const listed: string[] = [];
  for (let i = 0; listed.length < limit; i++) {
    let took = false;
    for (const g of groups) {
      if (i < g.length && listed.length < limit) {
        listed.push(g[i]!);
        took = true;
      }
    }
    if (!took) break;
  }

  const shown = new Set(listed);
  const counts = new Map<string, number>();
  for (const p of paths) if (!shown.has(p)) counts.set(folderOf(p), (counts.get(folderOf(p)) ?? 0) + 1);
  const folders = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const unlisted = folders
    .slice(0, MAX_FOLDERS)
    .map(([f, n]) => `${f} (${n})`)
    .concat(folders.length > MAX_FOLDERS ? [`(${folders.length - MAX_FOLDERS} more folders)`] : [])
    .join(', ');

  const newest = [...commits].reverse();
  const commitLines = newest
    .slice(0, MAX_LISTED_COMMITS)
    .map((c) => `- ${c.sha.slice(0, 10)} ${clipSubject(c.subject)} (${c.paths.length} file${c.paths.length === 1 ? '' : 's'})`);
  if (newest.length > MAX_LISTED_COMMITS) commitLines.push(`- (${newest.length - MAX_LISTED_COMMITS} older commits)`);
  return { listed, unlisted, commitLines };
}

function clipSubject(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  if (!one) return '(no message)';
  return one.length > 100 ? `${one.slice(0, 97)}...` : one;
}
