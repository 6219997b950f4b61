import { execFileSync } from 'node:child_process';

/**
 * A repository's history as the days it was lived: the first-parent line of one branch (what
 * landed on it, in the order it landed), each commit with the files it changed against its first
 * parent. Merges are replayed as the change they brought to that line, which is what the people
 * working on the branch saw arrive.
 */

/** One file change of a commit against its first parent (`git diff-tree --raw --no-renames`). */
export interface FileChange {
  path: string;
  /** A added, M modified, D deleted, T type changed (file ↔ symlink ↔ submodule). */
  status: 'A' | 'M' | 'D' | 'T';
  /** The new mode and blob (absent for D): 100644, 100755, 120000 (symlink), 160000 (submodule). */
  mode?: string | undefined;
  blob?: string | undefined;
}

export interface HistoryCommit {
  sha: string;
  /** The first parent (null for a root commit). */
  parent: string | null;
  /** Committer time, epoch ms: when the change landed on the branch. */
  at: number;
  authorName: string;
  authorEmail: string;
  /** Author time, epoch seconds with zone, as git wants it back (`@1700000000 +0100`). */
  authorDate: string;
  committerDate: string;
  /** The whole message (subject and body), exactly as stored. */
  message: string;
  changes: FileChange[];
}

export interface HistoryWindow {
  /** Inclusive, as git's --since understands it; a bare date (2026-03-02) is that day's start, UTC. */
  since?: string | undefined;
  /** As git's --until understands it; a bare date (2026-03-07) includes that whole day, UTC. */
  until?: string | undefined;
  /** The branch or revision whose first-parent line is replayed (default HEAD). */
  rev?: string | undefined;
  /** Keep only the first N active days (UTC calendar days with at least one commit). */
  days?: number | undefined;
  /** Read at most the last N commits of the window (git log -n). */
  maxCount?: number | undefined;
  /** Keep only the last N active days instead (for the warm-up before a window). */
  lastDays?: number | undefined;
}

/** A simulated day: its UTC date and its commits, in order. */
export interface HistoryDay {
  date: string;
  commits: HistoryCommit[];
  /** A day replayed before the window only so the daemon starts as a running one would (not scored). */
  warmup?: boolean | undefined;
}

const FIELD = '\x1f';
const RECORD = '\x1e';

export function git(repo: string, args: readonly string[], input?: string): string {
  return execFileSync('git', args, {
    cwd: repo,
    encoding: 'utf8',
    input,
    maxBuffer: 512 * 1024 * 1024,
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C' },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

const BARE_DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * git reads a bare date as that day at the current time of day, so the same command replayed a
 * different window depending on when it was run. A bare date here is a whole UTC day, like the
 * days the replay groups commits into.
 */
export function dayBound(date: string, side: 'start' | 'end'): string {
  if (!BARE_DATE.test(date)) return date;
  return side === 'start' ? `${date}T00:00:00Z` : `${date}T23:59:59Z`;
}

/** The commits of the window, oldest first, grouped into UTC days. */
export function readHistory(repo: string, w: HistoryWindow = {}): HistoryDay[] {
  const format = ['%H', '%P', '%ct', '%an', '%ae', '%ad', '%cd', '%B'].join(FIELD) + RECORD;
  const args = ['log', '--first-parent', '--reverse', `--format=${format}`, '--date=raw'];
  if (w.since) args.push(`--since=${dayBound(w.since, 'start')}`);
  if (w.until) args.push(`--until=${dayBound(w.until, 'end')}`);
  if (w.maxCount !== undefined) args.push(`--max-count=${w.maxCount}`);
  args.push(w.rev ?? 'HEAD', '--');
  const out = git(repo, args);
  const commits: HistoryCommit[] = [];
  for (const rec of out.split(RECORD)) {
    const f = rec.replace(/^\n/, '').split(FIELD);
    if (f.length < 8) continue;
    const [sha, parents, ct, an, ae, ad, cd, ...body] = f as [string, string, string, string, string, string, string, ...string[]];
    commits.push({
      sha,
      parent: parents.split(' ').filter(Boolean)[0] ?? null,
      at: Number(ct) * 1000,
      authorName: an,
      authorEmail: ae,
      authorDate: `@${ad}`,
      committerDate: `@${cd}`,
      message: body.join(FIELD),
      changes: [],
    });
  }
  const all = groupByDay(commits);
  const days = w.lastDays !== undefined ? all.slice(-w.lastDays) : all.slice(0, w.days ?? Infinity);
  for (const d of days) for (const c of d.commits) c.changes = readChanges(repo, c);
  return days;
}

/** The most commits read back from the window's start when looking for warm-up days. */
const WARMUP_SCAN = 400;

/**
 * The last `n` active days before the window starts (`since`), flagged as warm-up. A user's daemon
 * has been watching the repository before any window one picks: its look pacing (the back-off in
 * src/pipeline/look-backoff.ts, kept in the store) is already where that work left it. A replay that
 * starts a fresh daemon on the window's first commit instead begins with a back-off that has never
 * found anything quiet — a few looks no running daemon would make. Replaying the days just before
 * puts the daemon where it would have been; those days are not scored.
 */
export function readWarmup(repo: string, w: Pick<HistoryWindow, 'since' | 'rev'>, n: number): HistoryDay[] {
  if (n <= 0 || !w.since) return [];
  const start = Date.parse(dayBound(w.since, 'start'));
  if (!Number.isFinite(start)) throw new Error(`--since ${w.since}: a warm-up needs a date git and Date.parse both read (e.g. 2022-01-12)`);
  const before = new Date(start - 1000).toISOString();
  const days = readHistory(repo, { until: before, rev: w.rev, maxCount: WARMUP_SCAN, lastDays: n });
  // A root commit cannot be replayed (the scratch clone starts at the first commit's parent).
  return days.map((d) => ({ ...d, commits: d.commits.filter((c) => c.parent !== null), warmup: true })).filter((d) => d.commits.length > 0);
}

/** Groups commits by the UTC date they landed; a commit dated before its predecessor stays in the running day. */
export function groupByDay(commits: readonly HistoryCommit[]): HistoryDay[] {
  const days: HistoryDay[] = [];
  for (const c of commits) {
    const date = new Date(c.at).toISOString().slice(0, 10);
    const last = days.at(-1);
    if (last && date <= last.date) last.commits.push(c);
    else days.push({ date, commits: [c] });
  }
  return days;
}

/** What a commit changed against its first parent (against the empty tree for a root commit). */
export function readChanges(repo: string, c: Pick<HistoryCommit, 'sha' | 'parent'>): FileChange[] {
  const args = c.parent
    ? ['diff-tree', '-r', '--raw', '--no-renames', '-z', '--no-commit-id', c.parent, c.sha]
    : ['diff-tree', '-r', '--raw', '--no-renames', '-z', '--no-commit-id', '--root', c.sha];
  const parts = git(repo, args).split('\0');
  const changes: FileChange[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    // ":100644 100644 <old> <new> M" then the path
    const meta = parts[i]!.replace(/^:/, '').split(' ');
    const status = meta[4]?.[0] as FileChange['status'] | undefined;
    const path = parts[i + 1]!;
    if (!status || !path) continue;
    changes.push(status === 'D' ? { path, status } : { path, status: status === 'A' || status === 'M' || status === 'T' ? status : 'M', mode: meta[1], blob: meta[3] });
  }
  return changes;
}
