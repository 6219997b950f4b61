import { addPlannedWorktree, checkTaskWorktree, snapshotTaskBase, type CheckedWorktree, type PlannedWorktree, type TaskWorktree } from './worktree.js';

/**
 * Where an acting task's tools act, made only as far as the task needs it, so the first model
 * request never waits for the repository's size:
 *
 *   begin()        in the background: the checks (HEAD has a commit, branch and folder free), then the
 *                  base commit (the user's dirty state snapshotted into objects). The task calls it
 *                  once its first model request has left (src/model/request-sent.ts): spawning git
 *                  blocks the event loop until the child has exec'd, so not one git process starts
 *                  before that request. base() and materialise() begin it too if nothing has yet.
 *                  A failed check fails the task at the first tool that needs the base (a task that
 *                  needs none never asks);
 *   base()         that base: read tools answer from its blobs until the worktree exists (tools/base-files.ts);
 *   materialise()  the full `git worktree add` on the base, the first time the agent edits, runs a
 *                  command, uses git or splits — a command usually needs the whole tree, and a
 *                  checkout of only the edited paths would give it a tree that is not the base.
 *
 * Snapshot semantics: the base is the user's tree as the snapshot (begun as the first request
 * leaves, running while the model answers) finds it; the first read waits for it. Everything the agent reads (from
 * the base, later from the worktree) is that tree plus its own edits, whatever the user saves after
 * it was taken. The proposal is the diff base → worktree, the same as with an eager worktree.
 */
export interface TaskWorkspaceOptions {
  repo: string;
  taskId: string | number;
  /** $KAIROS_HOME */
  home: string;
  /** 'eager' begins and materialises in start() (the old path; hooks and MCP servers need a tree to run in). */
  mode: 'lazy' | 'eager';
}

export class TaskWorkspace {
  private checked: CheckedWorktree | undefined;
  private checkPromise: Promise<CheckedWorktree> | undefined;
  private basePromise: Promise<string> | undefined;
  private treePromise: Promise<TaskWorktree> | undefined;
  private tree: TaskWorktree | undefined;

  constructor(private readonly o: TaskWorkspaceOptions) {}

  /** Lazy: returns at once, having started nothing. Eager: returns with the worktree made (or throws a WorktreeError). */
  async start(): Promise<void> {
    if (this.o.mode === 'eager') await this.materialise();
  }

  /** Starts the checks and the base snapshot in the background (once; later calls get the same base). */
  begin(): Promise<string> {
    if (this.basePromise) return this.basePromise;
    this.checkPromise = checkTaskWorktree({ repo: this.o.repo, taskId: this.o.taskId, home: this.o.home, includeUncommitted: true }).then((c) => (this.checked = c));
    this.basePromise = this.checkPromise.then((c) => snapshotTaskBase(c, { includeUncommitted: true }));
    // Awaited by whoever needs them; a failure is reported there, never as an unhandled rejection.
    this.checkPromise.catch(() => {});
    this.basePromise.catch(() => {});
    return this.basePromise;
  }

  /** Whether the checks passed: the task's branch and folder are its own to remove at the end. */
  owned(): boolean {
    return this.checked !== undefined;
  }

  /** Set once base() (or materialise()) has resolved; the getters below need it. */
  private get check(): CheckedWorktree {
    if (!this.checked) throw new Error('TaskWorkspace: await base() or materialise() before asking where the tree is');
    return this.checked;
  }

  /** The realpath'd top folder of the user's repository. */
  get repo(): string {
    return this.check.repo;
  }

  /** The user's git dir: the base's objects are read there. */
  get userGitDir(): string {
    return this.check.layout.gitDir;
  }

  /** The folder the worktree has, or will have once materialised. */
  get plannedDir(): string {
    return this.check.dir;
  }

  base(): Promise<string> {
    return this.begin();
  }

  /** The worktree if it exists already. */
  current(): TaskWorktree | undefined {
    return this.tree;
  }

  /** The worktree, made on first call (every later call gets the same one). */
  materialise(): Promise<TaskWorktree> {
    this.treePromise ??= (async () => {
      const base = await this.base();
      const plan: PlannedWorktree = { ...this.check, base };
      const wt = await addPlannedWorktree(plan, { home: this.o.home });
      this.tree = wt;
      return wt;
    })();
    return this.treePromise;
  }

  /**
   * The folder the policy layers confine paths to now: the worktree once it exists, before that the
   * user's tree (whose files the base was snapshotted from; the reads themselves come from the base).
   */
  root(): string {
    return this.tree?.dir ?? this.check.repo;
  }

  /** Waits for a materialisation under way (or its failure) so the task's cleanup sees the final state. */
  async settled(): Promise<void> {
    await this.checkPromise?.catch(() => {});
    await this.treePromise?.catch(() => {});
    await this.basePromise?.catch(() => {});
  }
}
