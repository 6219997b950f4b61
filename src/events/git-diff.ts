import type { GitEventType } from './event.js';
import { headBranch, type GitState, type ReflogEntry } from './git-state.js';

/**
 * Turns two snapshots of `.git` into semantic events. The HEAD reflog is the main witness: every
 * command that moves HEAD writes one line naming itself ("commit:", "checkout: moving from a to b",
 * "pull: Fast-forward", "rebase (finish): ..."), so each new line is classified on its own and the
 * result does not depend on how the watcher happened to batch the changes. Ref and file changes the
 * reflog does not cover (branches, remote-tracking refs, the stash, FETCH_HEAD) come from comparing
 * the snapshots.
 *
 * One real-world operation gives one event, with these documented exceptions:
 * - `git checkout -b x` / `git switch -c x` give git.branch-created then git.checkout: a trigger on
 *   either should fire.
 * - A rebase gives git.rebase {phase:'start'} and later {phase:'finish'} (or 'abort'), even when both
 *   happen between two reads, so consumers always see the pair.
 * - `git pull` gives one git.pull: the fetch it ran and the commits it made are not reported apart.
 *   `git pull --rebase` gives its git.pull when the rebase finishes (no git.rebase events). A pull
 *   that found nothing to merge moved no HEAD and is reported as the git.fetch it was.
 * - A conflicted merge gives one git.merge when its merge commit is made; `git merge --abort` gives
 *   nothing (HEAD never moved).
 * - A reset that leaves HEAD where it was (`git reset --hard` to discard edits, and the internal
 *   resets of `git stash` and `git merge --abort`) is not a git.reset: only the work tree changed,
 *   which the file source reports.
 * - `git stash pop` and `git stash drop` both show as git.stash {action:'drop'}: .git keeps no trace
 *   of which it was.
 * - A push moves remote-tracking refs to local commits without touching FETCH_HEAD: not a git.fetch.
 *
 * Data shapes (shas are full hex, branches are short names, null when detached or unborn):
 * - git.commit         {branch, from, to, message, amend?, initial?, via?: 'cherry-pick'|'revert'|'am'}
 * - git.checkout       {from, to, fromRef, toRef, fromSha, toSha, detached}
 * - git.merge          {branch, from, to, source?, fastForward, conflicted?, message}
 * - git.rebase         {phase: 'start'|'finish'|'abort', branch, from, to, onto?}
 * - git.pull           {branch, from, to, rebase, fastForward?, message}
 * - git.fetch          {updated: [{ref, from, to}], fetchHead: boolean}
 * - git.stash          {action: 'push'|'drop'|'clear', count, sha}
 * - git.branch-created {branch, sha, renamedFrom?}
 * - git.branch-deleted {branch, sha, renamedTo?}
 * - git.reset          {branch, from, to, target, message}
 * Events derived from snapshots alone (no reflog line to go on) carry `inferred: true`.
 */
export interface GitEventDraft {
  type: GitEventType;
  data: Record<string, unknown>;
  /** Set by the source for changes the daemon made itself (its own branches); absent means the user. */
  origin?: 'user' | 'daemon';
}

export type GitOperation = 'rebase' | 'merge' | 'cherry-pick' | 'revert' | 'bisect' | 'index-lock';

/**
 * The git operation under way, if any: while it is, work-tree changes are git's, not the user's.
 * A stopped rebase also leaves CHERRY_PICK_HEAD or MERGE_HEAD behind, so rebase is checked first.
 * `git am` uses rebase-apply/ and is reported as 'rebase'.
 */
export function operationInProgress(state: GitState): GitOperation | null {
  const m = state.markers;
  if (m.rebaseMerge || m.rebaseApply) return 'rebase';
  if (m.mergeHead) return 'merge';
  if (m.cherryPickHead) return 'cherry-pick';
  if (m.revertHead) return 'revert';
  if (m.bisectLog) return 'bisect';
  if (m.indexLock) return 'index-lock';
  return null;
}

export function diffGitState(prev: GitState, next: GitState): GitEventDraft[] {
  const fromReflog: GitEventDraft[] = [];
  const entries = newReflogEntries(prev, next);
  const renames = new Map<string, string>();
  if (entries && entries.length > 0) {
    fromReflog.push(...classifyReflog(entries, prev, next, renames));
  } else {
    fromReflog.push(...inferFromHead(prev, next));
  }
  const hasPull = fromReflog.some((e) => e.type === 'git.pull');

  const created: GitEventDraft[] = [];
  const deleted: GitEventDraft[] = [];
  const renamedTo = new Map([...renames].map(([from, to]) => [from, to]));
  const renamedFrom = new Map([...renames].map(([from, to]) => [to, from]));
  const prevHead = headBranch(prev);
  for (const [branch, sha] of Object.entries(next.branches)) {
    if (branch in prev.branches) continue;
    // The first commit on an unborn branch creates its ref: that is the commit, not a new branch.
    if (branch === prevHead && prev.head.sha === null) continue;
    const from = renamedFrom.get(branch);
    created.push({ type: 'git.branch-created', data: { branch, sha, ...(from ? { renamedFrom: from } : {}) } });
  }
  for (const [branch, sha] of Object.entries(prev.branches)) {
    if (branch in next.branches) continue;
    const to = renamedTo.get(branch);
    deleted.push({ type: 'git.branch-deleted', data: { branch, sha, ...(to ? { renamedTo: to } : {}) } });
  }

  const out: GitEventDraft[] = [];
  const fetch = hasPull ? null : fetchEvent(prev, next);
  if (fetch) out.push(fetch);
  out.push(...created, ...fromReflog, ...deleted);
  const stash = stashEvent(prev, next);
  if (stash) out.push(stash);
  return out;
}

/**
 * The reflog lines written since `prev` was read, or null when the reflog was rewritten (expired,
 * deleted) so the lines cannot be matched up and the snapshots must speak for themselves.
 */
function newReflogEntries(prev: GitState, next: GitState): ReflogEntry[] | null {
  if (next.reflog.size < prev.reflog.size) return null;
  const anchor = prev.reflog.entries.at(-1);
  if (!anchor) return next.reflog.entries.filter((e) => e.offset >= prev.reflog.size);
  const same = next.reflog.entries.find((e) => e.offset === anchor.offset);
  if (same) {
    const unchanged = same.old === anchor.old && same.new === anchor.new && same.time === anchor.time && same.message === anchor.message;
    return unchanged ? next.reflog.entries.filter((e) => e.offset > anchor.offset) : null;
  }
  const first = next.reflog.entries[0];
  if (first && first.offset > anchor.offset) return next.reflog.entries.filter((e) => e.offset >= prev.reflog.size);
  return next.reflog.entries.length === 0 ? [] : null;
}

const ZERO = /^0+$/;
const nz = (sha: string): string | null => (ZERO.test(sha) ? null : sha);

/** `rebase (pick): msg`, `rebase -i (finish): ...`, `pull --rebase (start): ...`, `pull -q --rebase (start)`. */
const REBASE_LINE = /^(rebase|pull)\b[^(]*\((start|finish|abort|[a-z-]+)\): ?(.*)$/s;

function classifyReflog(entries: ReflogEntry[], prev: GitState, next: GitState, renames: Map<string, string>): GitEventDraft[] {
  const out: GitEventDraft[] = [];
  const known = new Set([...Object.keys(prev.branches), ...Object.keys(next.branches)]);
  // The branch HEAD is on, replayed line by line: a commit's branch is the one checked out when it was made.
  let branch = headBranch(prev);
  const last = entries.length - 1;
  entries.forEach((e, i) => {
    const msg = e.message;
    const moved = e.old !== e.new;
    let m: RegExpExecArray | null;
    if ((m = /^commit(?: \(([a-z-]+)\))?: ?(.*)$/s.exec(msg))) {
      const kind = m[1];
      const message = m[2] ?? '';
      if (kind === 'merge') {
        out.push({ type: 'git.merge', data: { branch, from: nz(e.old), to: e.new, fastForward: false, conflicted: true, message } });
      } else {
        out.push({
          type: 'git.commit',
          data: {
            branch,
            from: nz(e.old),
            to: e.new,
            message,
            ...(kind === 'amend' ? { amend: true } : {}),
            ...(kind === 'initial' ? { initial: true } : {}),
            ...(kind === 'cherry-pick' ? { via: 'cherry-pick' } : {}),
          },
        });
      }
    } else if ((m = /^(cherry-pick|revert|am): ?(.*)$/s.exec(msg))) {
      out.push({ type: 'git.commit', data: { branch, from: nz(e.old), to: e.new, message: m[2] ?? '', via: m[1] } });
    } else if ((m = /^checkout: moving from (.+) to (.+)$/s.exec(msg))) {
      const fromRef = m[1] ?? '';
      const toRef = m[2] ?? '';
      const from = branch;
      const to = i === last ? headBranch(next) : known.has(toRef) ? toRef : null;
      branch = to;
      if (fromRef === toRef && !moved) return;
      out.push({
        type: 'git.checkout',
        data: { from, to, fromRef, toRef, fromSha: nz(e.old), toSha: e.new, detached: to === null },
      });
    } else if (REBASE_LINE.test(msg)) {
      const [, tool, action, rest] = REBASE_LINE.exec(msg) ?? [];
      const returning = /^returning to refs\/heads\/(.+)$/.exec(rest ?? '')?.[1] ?? null;
      if (action === 'start') {
        const rebased = next.rebase?.headName?.replace(/^refs\/heads\//, '') ?? findFinishBranch(entries, i) ?? branch;
        if (tool === 'rebase') {
          out.push({ type: 'git.rebase', data: { phase: 'start', branch: rebased, from: nz(e.old), to: e.new, onto: e.new } });
        }
        branch = null;
      } else if (action === 'finish' || action === 'abort') {
        const start = findStart(next.reflog.entries, e.offset);
        const viaPull = tool === 'pull' || start?.tool === 'pull';
        const from = start ? nz(start.entry.old) : prev.origHead;
        if (action === 'finish') {
          if (viaPull) {
            out.push({ type: 'git.pull', data: { branch: returning, from, to: e.new, rebase: true, message: msg } });
          } else {
            out.push({
              type: 'git.rebase',
              data: { phase: 'finish', branch: returning, from, to: e.new, ...(start ? { onto: start.entry.new } : {}) },
            });
          }
        } else if (!viaPull) {
          out.push({ type: 'git.rebase', data: { phase: 'abort', branch: returning, from: nz(e.old), to: e.new } });
        }
        branch = returning;
      } else {
        // pick, continue, squash, fixup, reword, edit, skip...: steps inside the rebase, detached.
        branch = null;
      }
    } else if ((m = /^merge (.+?): (.*)$/s.exec(msg))) {
      const result = m[2] ?? '';
      out.push({
        type: 'git.merge',
        data: { branch, from: nz(e.old), to: e.new, source: m[1], fastForward: /fast-forward/i.test(result), message: result },
      });
    } else if ((m = /^pull\b[^:]*: (.*)$/s.exec(msg))) {
      const result = m[1] ?? '';
      out.push({
        type: 'git.pull',
        data: { branch, from: nz(e.old), to: e.new, rebase: false, fastForward: /fast-forward/i.test(result), message: result },
      });
    } else if ((m = /^reset: moving to (.+)$/s.exec(msg))) {
      if (moved) out.push({ type: 'git.reset', data: { branch, from: nz(e.old), to: e.new, target: m[1], message: msg } });
    } else if ((m = /^Branch: renamed refs\/heads\/(.+) to refs\/heads\/(.+)$/.exec(msg))) {
      const [, a, b] = m;
      if (a && b) {
        renames.set(a, b);
        if (branch === a) branch = b;
      }
    } else if (moved) {
      // Something else moved HEAD (update-ref, a third-party tool): HEAD now points elsewhere, as after a reset.
      out.push({ type: 'git.reset', data: { branch, from: nz(e.old), to: e.new, target: e.new, message: msg } });
    }
  });
  return out;
}

/** The rebase start before `offset`, looking back through the lines read (a stopped rebase started in an earlier read). */
function findStart(all: ReflogEntry[], offset: number): { tool: string; entry: ReflogEntry } | null {
  for (let i = all.length - 1; i >= 0; i--) {
    const e = all[i];
    if (!e || e.offset >= offset) continue;
    const m = REBASE_LINE.exec(e.message);
    // Other lines can sit inside a stopped rebase (a commit --amend at an `edit` stop): look past them.
    if (!m) continue;
    if (m[2] === 'start') return { tool: m[1] ?? 'rebase', entry: e };
    if (m[2] === 'finish' || m[2] === 'abort') return null;
  }
  return null;
}

function findFinishBranch(entries: ReflogEntry[], from: number): string | null {
  for (let i = from + 1; i < entries.length; i++) {
    const m = REBASE_LINE.exec(entries[i]?.message ?? '');
    if (!m) continue;
    if (m[2] === 'finish' || m[2] === 'abort') return /^returning to refs\/heads\/(.+)$/.exec(m[3] ?? '')?.[1] ?? null;
  }
  return null;
}

/** No reflog line to go on (reflog off, or rewritten): say what the snapshots show. */
function inferFromHead(prev: GitState, next: GitState): GitEventDraft[] {
  const from = headBranch(prev);
  const to = headBranch(next);
  if (prev.head.ref !== next.head.ref) {
    const renamed = from !== null && to !== null && prev.head.sha === next.head.sha && !(to in prev.branches) && !(from in next.branches);
    if (renamed) {
      return []; // a rename of the current branch; the branch events say so
    }
    return [
      {
        type: 'git.checkout',
        data: { from, to, fromRef: from ?? prev.head.sha, toRef: to ?? next.head.sha, fromSha: prev.head.sha, toSha: next.head.sha, detached: to === null, inferred: true },
      },
    ];
  }
  if (prev.head.sha !== next.head.sha && next.head.sha !== null) {
    return [{ type: 'git.commit', data: { branch: to, from: prev.head.sha, to: next.head.sha, message: null, inferred: true } }];
  }
  return [];
}

function fetchEvent(prev: GitState, next: GitState): GitEventDraft | null {
  const updated: { ref: string; from: string | null; to: string | null }[] = [];
  for (const [ref, sha] of Object.entries(next.remotes)) {
    if (prev.remotes[ref] !== sha) updated.push({ ref, from: prev.remotes[ref] ?? null, to: sha });
  }
  for (const [ref, sha] of Object.entries(prev.remotes)) {
    if (!(ref in next.remotes)) updated.push({ ref, from: sha, to: null });
  }
  const fetchHead =
    next.fetchHead !== null && (prev.fetchHead === null || prev.fetchHead.hash !== next.fetchHead.hash || prev.fetchHead.mtimeMs !== next.fetchHead.mtimeMs);
  if (!fetchHead) {
    if (updated.length === 0) return null;
    const local = new Set(Object.values(next.branches));
    // A push records where the remote now is, which is where a local branch already was.
    if (updated.every((u) => u.to !== null && local.has(u.to))) return null;
  }
  return { type: 'git.fetch', data: { updated, fetchHead } };
}

function stashEvent(prev: GitState, next: GitState): GitEventDraft | null {
  const a = prev.stash;
  const b = next.stash;
  if (a.sha === b.sha && a.count === b.count) return null;
  const action = b.sha === null ? (a.count > 1 ? 'clear' : 'drop') : b.count < a.count ? 'drop' : 'push';
  return { type: 'git.stash', data: { action, count: b.count, sha: b.sha } };
}
