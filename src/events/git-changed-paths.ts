import { gitSync } from '../git/safe-git.js';
import { resolveGitDirs } from './git-dir.js';
import { GitEventType, type EventDraft } from './event.js';

/** A git event's draft: the only kind whose data may gain paths. */
function isGitDraft(d: EventDraft): d is Extract<EventDraft, { type: GitEventType }> {
  return GitEventType.safeParse(d.type).success;
}

/** Beyond this a git event keeps a count instead of the list: fs triggers then rely on the watcher alone. */
export const MAX_GIT_PATHS = 200_000;

const WORK_TREE_MOVES: Record<string, [fromKey: string, toKey: string]> = {
  'git.checkout': ['fromSha', 'toSha'],
  'git.merge': ['from', 'to'],
  'git.pull': ['from', 'to'],
  'git.reset': ['from', 'to'],
  'git.rebase': ['from', 'to'],
};

/**
 * Files git itself rewrote between two commits. A checkout of 10,000 files can outrun the file
 * watcher (a folder created and filled before its watch is in place); git's own record of what it
 * changed cannot, so work-tree-moving git events carry it and fs triggers match on it too.
 */
export function changedPaths(repo: string, from: string, to: string): string[] | null {
  try {
    const dirs = resolveGitDirs(repo);
    // Two commits: no work tree is read, so none is named.
    const out = gitSync({ gitDir: dirs.gitDir }, ['diff', '--no-renames', '--name-only', '-z', from, to, '--']).stdout.toString('utf8');
    return out.split('\0').filter(Boolean);
  } catch {
    return null; // an unborn or garbage-collected commit: the watcher's events still stand
  }
}

/** Adds `data.paths` (or `data.path_count` when huge) to git events that moved the work tree. */
export function withChangedPaths(repo: string, drafts: readonly EventDraft[]): EventDraft[] {
  return drafts.map((d) => {
    const keys = WORK_TREE_MOVES[d.type];
    if (!keys || !isGitDraft(d)) return d;
    if (d.type === 'git.rebase' && (d.data as { phase?: string }).phase !== 'finish') return d;
    const from = (d.data as Record<string, unknown>)[keys[0]];
    const to = (d.data as Record<string, unknown>)[keys[1]];
    if (typeof from !== 'string' || typeof to !== 'string' || from === to) return d;
    const paths = changedPaths(repo, from, to);
    if (!paths) return d;
    const data = paths.length > MAX_GIT_PATHS ? { ...d.data, path_count: paths.length } : { ...d.data, paths };
    return { ...d, data };
  });
}
