import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { git, gitText, type GitLocation } from '../git/safe-git.js';
import { findWorktreeGitDir, locateRepo, RepoLocateError, taskWorktreeLocation, userTree, type RepoLayout } from '../git/locate.js';
import { indexWorktree } from './git/tree-index.js';
import { KairosError, messageOf } from '../core/errors.js';

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

export class WorktreeError extends KairosError {
  override name = 'WorktreeError';
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

/** Where the repository containing `repo` keeps its git folders (see git/locate.ts). */
export async function repoLayout(repo: string): Promise<RepoLayout> {
  try {
    return await locateRepo(repo);
  } catch (e) {
    if (e instanceof RepoLocateError) throw new WorktreeError(e.message, { cause: e });
    throw e;
  }
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
  /** Its admin folder in the repository (`<common>/worktrees/<name>`): the git dir every command in it names. */
  gitDir: string;
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
  return addPlannedWorktree(await planTaskWorktree(opts), opts);
}

/**
 * A task's worktree decided but not yet on disk: its base commit is made (the user's dirty state
 * snapshotted into objects only), its folder and branch are named and checked free. An agent reads
 * the base's blobs through it (git/base-files.ts) and materialises it with addPlannedWorktree only
 * when it first edits or runs something, so the first model request never waits for a checkout.
 */
export interface PlannedWorktree {
  id: string;
  layout: RepoLayout;
  /** The folder the worktree will have (not realpath'd: it does not exist yet). */
  dir: string;
  branch: string;
  base: string;
  head: string;
  /** The realpath'd top folder of the user's repository. */
  repo: string;
}

/** Everything createTaskWorktree does before `git worktree add`: the checks and the base commit. */
export async function planTaskWorktree(opts: CreateWorktreeOptions): Promise<PlannedWorktree> {
  const checked = await checkTaskWorktree(opts);
  return { ...checked, base: await snapshotTaskBase(checked, opts) };
}

export type CheckedWorktree = Omit<PlannedWorktree, 'base'>;

/** The cheap part (a few git look-ups): HEAD has a commit, the branch and folder are free. */
export async function checkTaskWorktree(opts: CreateWorktreeOptions): Promise<CheckedWorktree> {
  const id = checkTaskId(opts.taskId);
  const layout = await repoLayout(opts.repo);
  const top = layout.top;
  const user = userTree(layout);
  const branch = taskBranch(id);
  const headRes = await git(user, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], { allowFail: true });
  if (headRes.code !== 0) {
    throw new WorktreeError(`${top}: HEAD has no commit yet; an agent task needs at least one commit to branch from (make the first commit)`);
  }
  const head = headRes.stdout.toString('utf8').trim();
  const exists = await git(user, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { allowFail: true });
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
  return { id, layout, dir, branch, head, repo: top };
}

/** The worktree's base commit: HEAD, or a commit of HEAD plus the dirty state of the user's tree (or of `from`). */
export async function snapshotTaskBase(checked: CheckedWorktree, opts: Pick<CreateWorktreeOptions, 'includeUncommitted' | 'from'>): Promise<string> {
  const { id, layout, head } = checked;
  const user = userTree(layout);
  let base: string;
  if (opts.from) {
    // Another task's worktree: touched by an agent, so read only through the daemon's own index (never `git add`).
    const from = taskWorktreeLocation(layout, opts.from);
    const fromHead = (await gitText(from, ['rev-parse', '--verify', 'HEAD^{commit}'])).trim();
    base = await snapshotTouchedTree(from, fromHead, id);
  } else {
    base = opts.includeUncommitted ? await snapshotUncommitted(user, head, id) : head;
  }
  return base;
}

/** `git worktree add` of a planned worktree on its base; on failure nothing is left behind. */
export async function addPlannedWorktree(plan: PlannedWorktree, opts: Pick<CreateWorktreeOptions, 'home' | 'now'>): Promise<TaskWorktree> {
  const { id, layout, dir, branch, base, head } = plan;
  const top = layout.top;
  const marker = markerPath(opts.home, top, id);
  fs.mkdirSync(path.dirname(marker), { recursive: true });
  const now = (opts.now ?? (() => new Date()))();
  fs.writeFileSync(marker, JSON.stringify({ repo: top, branch, base, head, createdAt: now.toISOString() }) + '\n');
  let gitDir: string | undefined;
  try {
    await git(userTree(layout), ['worktree', 'add', '--quiet', '-b', branch, dir, base]);
    gitDir = findWorktreeGitDir(layout.commonDir, dir);
    if (!gitDir) throw new Error(`git made no admin folder for ${dir} under ${layout.commonDir}/worktrees`);
  } catch (err) {
    // Leave nothing behind for a failed add: a half-registered worktree or a branch would leak. If that
    // cleanup fails too, the error says so (the next start's reconcileWorktrees retries it).
    const leftover = await removeTaskWorktree({ repo: top, taskId: id, home: opts.home }).then(
      () => '',
      (e: unknown) => `; removing what it left failed too (${messageOf(e)}), the next start retries`,
    );
    throw new WorktreeError(`could not create the worktree for task ${id} in ${top}: ${messageOf(err)}${leftover}`, { cause: err });
  }
  return { dir: fs.realpathSync(dir), gitDir, branch, base, head, repo: top };
}

/**
 * The user's dirty state as a commit. The user's tree is theirs, not the agent's, so git's own
 * `git add -A` reads it (through the daemon's git: no hooks, no drivers), into a scratch copy of
 * their index so only changed files are re-read.
 */
async function snapshotUncommitted(user: GitLocation, head: string, id: string): Promise<string> {
  const userIndex = path.resolve(user.gitDir, 'index');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-snapshot-'));
  try {
    const scratchIndex = path.join(scratch, 'index');
    // Starting from a copy of the user's index keeps its stat cache, so only changed files are re-read.
    if (fs.existsSync(userIndex)) fs.copyFileSync(userIndex, scratchIndex);
    const env = { GIT_INDEX_FILE: scratchIndex };
    if (!fs.existsSync(userIndex)) await git(user, ['read-tree', head], { env });
    await git(user, ['add', '-A', '--ignore-errors', '--', '.'], { env });
    return await commitIndex(user, env, head, id);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** A worktree an agent touched, as a commit: only regular files and links, nothing planted (tree-index.ts). */
async function snapshotTouchedTree(loc: GitLocation & { workTree: string }, head: string, id: string): Promise<string> {
  const idx = await indexWorktree(loc, head);
  try {
    if (idx.unsafeForGit) throw new WorktreeError(`${loc.workTree} cannot be carried into task ${id}: ${idx.problems.map((p) => p.why).join('; ')}`);
    return await commitIndex(loc, idx.env, head, id);
  } finally {
    idx.dispose();
  }
}

async function commitIndex(loc: GitLocation, env: { GIT_INDEX_FILE: string }, head: string, id: string): Promise<string> {
  const tree = (await gitText(loc, ['write-tree'], { env })).trim();
  const headTree = (await gitText(loc, ['rev-parse', `${head}^{tree}`])).trim();
  if (tree === headTree) return head;
  const message = `kairos: uncommitted changes carried into task ${id}`;
  return (await gitText(loc, ['commit-tree', '--no-gpg-sign', tree, '-p', head, '-m', message], { env: KAIROS_IDENTITY })).trim();
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

/**
 * Removes the task's worktree (even with uncommitted edits or a lock) and its branch. Idempotent.
 * The folder is deleted by the daemon itself, never by `git worktree remove`, which would read the
 * worktree's `.git` (possibly planted) to validate it; the registration goes with `worktree prune`.
 */
export async function removeTaskWorktree(opts: RemoveWorktreeOptions): Promise<RemovedWorktree> {
  const id = checkTaskId(opts.taskId);
  const layout = await repoLayout(opts.repo);
  const top = layout.top;
  const user = userTree(layout);
  const dir = path.join(repoWorktreeRoot(opts.home, top), id);
  const branch = taskBranch(id);
  let removedDir: string | null = null;
  const admin = findWorktreeGitDir(layout.commonDir, dir);
  if (admin || fs.existsSync(dir)) {
    fs.rmSync(dir, { recursive: true, force: true });
    removedDir = dir;
  }
  await git(user, ['worktree', 'prune'], { allowFail: true });
  // A locked registration survives prune; it is ours (it points at our folder), so it goes too.
  if (admin && fs.existsSync(admin)) fs.rmSync(admin, { recursive: true, force: true });
  let removedBranch: string | null = null;
  const exists = await git(user, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { allowFail: true });
  if (exists.code === 0) {
    const del = await git(user, ['branch', '-D', '--', branch], { allowFail: true });
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

async function listWorktrees(user: GitLocation): Promise<WorktreeEntry[]> {
  // Not -z (git >= 2.36 only): Kairos worktree paths never contain a newline.
  const text = await gitText(user, ['worktree', 'list', '--porcelain']);
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

export interface ReconcileOptions {
  home: string;
  /** Every repository the daemon knows; a repository that no longer exists is skipped. */
  repos: readonly string[];
  /** Tasks that may still use their worktree (not finished); all other Kairos worktrees go. */
  liveTaskIds: Iterable<TaskId>;
  /** Told of each repository or worktree that could not be cleaned up (the next start tries again). */
  onFailure?: (f: { repo: string; taskId?: string; err: unknown }) => void;
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
    let layout: RepoLayout;
    try {
      layout = await repoLayout(repo);
    } catch (err) {
      // Not a repository any more (removed, moved; its watcher already said so): nothing to clean there.
      // Anything else is told, not dropped.
      if (!(err instanceof WorktreeError)) opts.onFailure?.({ repo, err });
      continue;
    }
    const top = layout.top;
    await git(userTree(layout), ['worktree', 'prune'], { allowFail: true });
    const root = repoWorktreeRoot(opts.home, top);
    const realRoot = fs.existsSync(root) ? fs.realpathSync(root) : root;
    const stale = new Set<string>();
    for (const w of await listWorktrees(userTree(layout))) {
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
      } catch (err) {
        // A branch the user has checked out stays; the next start tries again.
        opts.onFailure?.({ repo: top, taskId: id, err });
      }
    }
  }
  return removed;
}
