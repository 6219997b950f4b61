import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The isolated git worktree an acting task edits in. It lives under $KAIROS_HOME, outside the
 * user's repository, on a branch `kairos/<task-id>` of the daemon's own, so the user's watcher never
 * sees the agent's edits and the user's working tree and index are never touched: everything here
 * only adds objects, a branch and a worktree registration to the repository's .git.
 *
 * Layout: <home>/worktrees/<repo-key>/<task-id>            the worktree
 *         <home>/worktrees/<repo-key>/.owned/<task-id>     marker: this branch is ours (JSON)
 * The marker is written before the branch exists and removed after it is gone, so start-up
 * reconciliation can delete a leaked `kairos/<id>` branch without ever deleting a user's own branch
 * that merely happens to start with `kairos/`.
 */

export class WorktreeError extends Error {
  override name = 'WorktreeError';
}

export class GitCommandError extends Error {
  override name = 'GitCommandError';
  constructor(
    message: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface GitResult {
  stdout: Buffer;
  stderr: string;
  code: number | null;
}

export interface GitRunOptions {
  /** Bytes written to git's stdin. */
  input?: Buffer | string;
  /** Extra environment (e.g. GIT_INDEX_FILE for a scratch index). */
  env?: Record<string, string>;
  /** Return a failed result instead of throwing. */
  allowFail?: boolean;
}

// Variables that would point git at another repository, index or object store than the one asked for
// (set, for instance, when the daemon was started from inside a git hook).
const LOCATING_VARS = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
];

/**
 * Runs git in `cwd` and collects raw stdout bytes (diffs are hashed byte for byte, so no decoding).
 * Hooks are switched off: the daemon's own bookkeeping (worktree add, scratch commits) must not run
 * the user's post-checkout or commit hooks. GIT_OPTIONAL_LOCKS=0 keeps read-only commands from
 * refreshing (rewriting) the user's index.
 */
export function runGit(cwd: string, args: readonly string[], opts: GitRunOptions = {}): Promise<GitResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of LOCATING_VARS) delete env[k];
  Object.assign(env, { GIT_OPTIONAL_LOCKS: '0', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' }, opts.env ?? {});
  const fullArgs = ['-c', 'core.hooksPath=/dev/null', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('git', fullArgs, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new GitCommandError(`git ${args.join(' ')} in ${cwd}: ${e.message}; is git installed and on PATH?`, null, '')));
    // git may exit before reading all its stdin (e.g. on a usage error); that is its answer, not ours to crash on.
    child.stdin.on('error', () => {});
    child.on('close', (code) => {
      const res: GitResult = { stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), code };
      if (code === 0 || opts.allowFail) resolve(res);
      else {
        reject(
          new GitCommandError(
            `git ${args.join(' ')} failed in ${cwd} (exit ${code ?? 'signal'}): ${res.stderr.trim() || '(no message)'}`,
            code,
            res.stderr,
          ),
        );
      }
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

async function gitText(cwd: string, args: readonly string[], opts: GitRunOptions = {}): Promise<string> {
  return (await runGit(cwd, args, opts)).stdout.toString('utf8');
}

/** Task ids become a branch name and a folder name, so only a safe alphabet is accepted. */
const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export type TaskId = string | number;

function checkTaskId(taskId: TaskId): string {
  const id = String(taskId);
  if (!TASK_ID.test(id)) {
    throw new WorktreeError(`task id ${JSON.stringify(id)} cannot name a worktree: use letters, digits, '-' or '_' (at most 64)`);
  }
  return id;
}

export const BRANCH_PREFIX = 'kairos/';

export function taskBranch(taskId: TaskId): string {
  return `${BRANCH_PREFIX}${checkTaskId(taskId)}`;
}

/** The repository's top folder, realpath'd: one repository has one key however it is named. */
export async function repoTopLevel(repo: string): Promise<string> {
  let real: string;
  try {
    real = fs.realpathSync(repo);
  } catch {
    throw new WorktreeError(`${repo}: no such folder; pass the path of the repository's work tree`);
  }
  const res = await runGit(real, ['rev-parse', '--show-toplevel'], { allowFail: true });
  if (res.code !== 0) throw new WorktreeError(`${real}: not a git work tree (${res.stderr.trim()}); pass the repository's top folder`);
  return fs.realpathSync(res.stdout.toString('utf8').trim());
}

/** Short stable key of a repository path, naming its folder under <home>/worktrees. */
export function repoKey(topLevel: string): string {
  return createHash('sha256').update(topLevel).digest('hex').slice(0, 16);
}

function repoWorktreeRoot(home: string, topLevel: string): string {
  return path.join(home, 'worktrees', repoKey(topLevel));
}

function markerPath(home: string, topLevel: string, id: string): string {
  return path.join(repoWorktreeRoot(home, topLevel), '.owned', id);
}

export interface TaskWorktree {
  /** The worktree folder (realpath'd). */
  dir: string;
  /** `kairos/<task-id>` */
  branch: string;
  /** The commit the agent's changes are diffed against: HEAD, or a commit of HEAD plus the user's uncommitted changes. */
  base: string;
  /** The user's HEAD when the worktree was made. */
  head: string;
  /** The realpath'd top folder of the user's repository. */
  repo: string;
}

export interface CreateWorktreeOptions {
  repo: string;
  taskId: TaskId;
  /** $KAIROS_HOME */
  home: string;
  /** Carry the user's uncommitted changes (staged, unstaged and untracked non-ignored files) into the worktree. */
  includeUncommitted: boolean;
  /**
   * Base the worktree on another work tree of the same repository as it is on disk (a coordinator's
   * worktree, for its workers): that tree is snapshotted like the user's uncommitted changes, and the
   * snapshot is the base. The new worktree still lives under `repo`'s key, so start-up reconciliation
   * finds it. Overrides includeUncommitted.
   */
  from?: string;
  now?: () => Date;
}

// The identity of the daemon's scratch commits: the user may have none configured, and these commits
// are never pushed or shown as the user's.
const KAIROS_IDENTITY = {
  GIT_AUTHOR_NAME: 'Kairos',
  GIT_AUTHOR_EMAIL: 'kairos@localhost',
  GIT_COMMITTER_NAME: 'Kairos',
  GIT_COMMITTER_EMAIL: 'kairos@localhost',
};

/**
 * Makes `git worktree add -b kairos/<id> <home>/worktrees/<key>/<id> <base>`.
 *
 * With includeUncommitted, the user's dirty state is snapshotted through a scratch copy of their
 * index (GIT_INDEX_FILE) — `git add -A` there, `write-tree`, `commit-tree -p HEAD` — and that commit
 * becomes the worktree's base. The user's work tree, index and refs are only read; `git stash` is
 * never used because it rewrites both. Because the snapshot is the base, a proposal's diff holds only
 * the agent's changes, and it applies to the user's tree, which still has those uncommitted changes.
 * The snapshot is what `git add -A` would record: the files as they are on disk (a staged version
 * that was edited again is carried as it is on disk), .gitignore'd files are left out, submodules
 * are carried as their recorded commit.
 */
export async function createTaskWorktree(opts: CreateWorktreeOptions): Promise<TaskWorktree> {
  const id = checkTaskId(opts.taskId);
  const top = await repoTopLevel(opts.repo);
  const branch = taskBranch(id);
  const headRes = await runGit(top, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], { allowFail: true });
  if (headRes.code !== 0) {
    throw new WorktreeError(`${top}: HEAD has no commit yet; an agent task needs at least one commit to branch from (make the first commit)`);
  }
  const head = headRes.stdout.toString('utf8').trim();
  const exists = await runGit(top, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { allowFail: true });
  if (exists.code === 0) {
    throw new WorktreeError(
      `${top}: branch ${branch} already exists; task ${id} already has a worktree (remove it with removeTaskWorktree, or restart the daemon to reconcile leaked worktrees)`,
    );
  }
  const root = repoWorktreeRoot(opts.home, top);
  const dir = path.join(root, id);
  if (fs.existsSync(dir)) {
    throw new WorktreeError(`${dir} already exists; remove it (or restart the daemon to reconcile leaked worktrees) before starting task ${id} again`);
  }

  let base: string;
  if (opts.from) {
    const from = fs.realpathSync(opts.from);
    const fromHead = (await gitText(from, ['rev-parse', '--verify', 'HEAD^{commit}'])).trim();
    base = await snapshotUncommitted(from, fromHead, id);
  } else {
    base = opts.includeUncommitted ? await snapshotUncommitted(top, head, id) : head;
  }

  const marker = markerPath(opts.home, top, id);
  fs.mkdirSync(path.dirname(marker), { recursive: true });
  const now = (opts.now ?? (() => new Date()))();
  fs.writeFileSync(marker, JSON.stringify({ repo: top, branch, base, head, createdAt: now.toISOString() }) + '\n');
  try {
    await runGit(top, ['worktree', 'add', '--quiet', '-b', branch, dir, base]);
  } catch (err) {
    // Leave nothing behind for a failed add: a half-registered worktree or a branch would leak.
    await removeTaskWorktree({ repo: top, taskId: id, home: opts.home }).catch(() => {});
    throw new WorktreeError(`could not create the worktree for task ${id} in ${top}: ${(err as Error).message}`);
  }
  return { dir: fs.realpathSync(dir), branch, base, head, repo: top };
}

async function snapshotUncommitted(top: string, head: string, id: string): Promise<string> {
  const userIndex = path.resolve(top, (await gitText(top, ['rev-parse', '--git-path', 'index'])).trim());
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-snapshot-'));
  try {
    const scratchIndex = path.join(scratch, 'index');
    // Starting from a copy of the user's index keeps its stat cache, so only changed files are re-read.
    if (fs.existsSync(userIndex)) fs.copyFileSync(userIndex, scratchIndex);
    const env = { GIT_INDEX_FILE: scratchIndex };
    if (!fs.existsSync(userIndex)) await runGit(top, ['read-tree', head], { env });
    await runGit(top, ['add', '-A', '--ignore-errors', '--', '.'], { env });
    const tree = (await gitText(top, ['write-tree'], { env })).trim();
    const headTree = (await gitText(top, ['rev-parse', `${head}^{tree}`])).trim();
    if (tree === headTree) return head;
    const message = `kairos: uncommitted changes carried into task ${id}`;
    return (await gitText(top, ['commit-tree', '--no-gpg-sign', tree, '-p', head, '-m', message], { env: KAIROS_IDENTITY })).trim();
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

export interface RemoveWorktreeOptions {
  repo: string;
  taskId: TaskId;
  home: string;
}

export interface RemovedWorktree {
  repo: string;
  taskId: string;
  /** The folder removed, or null when there was none. */
  dir: string | null;
  /** The branch deleted, or null when there was none. */
  branch: string | null;
}

/** Removes the task's worktree (even with uncommitted edits or a lock) and its branch. Idempotent. */
export async function removeTaskWorktree(opts: RemoveWorktreeOptions): Promise<RemovedWorktree> {
  const id = checkTaskId(opts.taskId);
  const top = await repoTopLevel(opts.repo);
  const dir = path.join(repoWorktreeRoot(opts.home, top), id);
  const branch = taskBranch(id);
  let removedDir: string | null = null;
  const registered = (await listWorktrees(top)).find((w) => sameDir(w.path, dir));
  if (registered || fs.existsSync(dir)) {
    // Two --force: also removes a locked worktree.
    await runGit(top, ['worktree', 'remove', '--force', '--force', dir], { allowFail: true });
    fs.rmSync(dir, { recursive: true, force: true });
    removedDir = dir;
  }
  await runGit(top, ['worktree', 'prune'], { allowFail: true });
  let removedBranch: string | null = null;
  const exists = await runGit(top, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { allowFail: true });
  if (exists.code === 0) {
    const del = await runGit(top, ['branch', '-D', '--', branch], { allowFail: true });
    if (del.code !== 0) {
      throw new WorktreeError(`${top}: could not delete branch ${branch}: ${del.stderr.trim()} (is it checked out somewhere? switch away and run again)`);
    }
    removedBranch = branch;
  }
  fs.rmSync(markerPath(opts.home, top, id), { force: true });
  return { repo: top, taskId: id, dir: removedDir, branch: removedBranch };
}

interface WorktreeEntry {
  path: string;
  branch: string | null;
}

async function listWorktrees(top: string): Promise<WorktreeEntry[]> {
  // Not -z (git >= 2.36 only): Kairos worktree paths never contain a newline.
  const text = await gitText(top, ['worktree', 'list', '--porcelain']);
  const out: WorktreeEntry[] = [];
  let cur: WorktreeEntry | null = null;
  for (const field of text.split('\n')) {
    if (field.startsWith('worktree ')) {
      cur = { path: field.slice('worktree '.length), branch: null };
      out.push(cur);
    } else if (cur && field.startsWith('branch ')) {
      cur.branch = field.slice('branch '.length);
    }
  }
  return out;
}

function sameDir(a: string, b: string): boolean {
  const real = (p: string): string => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return real(a) === real(b);
}

export interface ReconcileOptions {
  home: string;
  /** Every repository the daemon knows; a repository that no longer exists is skipped. */
  repos: readonly string[];
  /** Tasks that may still use their worktree (not finished); all other Kairos worktrees go. */
  liveTaskIds: Iterable<TaskId>;
}

/**
 * Start-up cleanup, so no worktree or branch leaks after a crash: for each repository, prunes stale
 * worktree registrations, then removes every Kairos worktree (a folder under <home>/worktrees/<key>/)
 * and every owned `kairos/<id>` branch whose task is not live, and any leftover folder or marker.
 * A `kairos/...` branch with no ownership marker and no Kairos worktree is the user's and is kept.
 */
export async function reconcileWorktrees(opts: ReconcileOptions): Promise<RemovedWorktree[]> {
  const live = new Set([...opts.liveTaskIds].map(String));
  const removed: RemovedWorktree[] = [];
  for (const repo of opts.repos) {
    let top: string;
    try {
      top = await repoTopLevel(repo);
    } catch {
      continue;
    }
    await runGit(top, ['worktree', 'prune'], { allowFail: true });
    const root = repoWorktreeRoot(opts.home, top);
    const realRoot = fs.existsSync(root) ? fs.realpathSync(root) : root;
    const stale = new Set<string>();
    for (const w of await listWorktrees(top)) {
      const p = fs.existsSync(w.path) ? fs.realpathSync(w.path) : w.path;
      if (path.dirname(p) !== realRoot) continue;
      const id = path.basename(p);
      if (TASK_ID.test(id) && !live.has(id)) stale.add(id);
    }
    const owned = fs.existsSync(path.join(root, '.owned')) ? fs.readdirSync(path.join(root, '.owned')) : [];
    for (const id of owned) if (TASK_ID.test(id) && !live.has(id)) stale.add(id);
    if (fs.existsSync(root)) {
      for (const name of fs.readdirSync(root)) if (TASK_ID.test(name) && !live.has(name)) stale.add(name);
    }
    for (const id of stale) {
      try {
        const r = await removeTaskWorktree({ repo: top, taskId: id, home: opts.home });
        if (r.dir || r.branch) removed.push(r);
      } catch {
        // A branch the user has checked out stays; the next start tries again.
      }
    }
  }
  return removed;
}
