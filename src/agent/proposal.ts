import { createHash } from 'node:crypto';
import type { Db } from '../store/db.js';
import { ProposalStore, randomProposalId, type Proposal } from '../store/proposal-store.js';
import { repoLayout } from './worktree.js';
import { git, type GitLocation } from '../git/safe-git.js';
import { taskWorktreeLocation } from '../git/locate.js';
import { indexWorktree, TreeTooLargeError, type ContentProblem, type WorktreeIndex } from './git/tree-index.js';
import { secretsAddedByDiff } from '../policy/redact/diff-secrets.js';
import { redactText } from '../policy/filter.js';
import { RefusedError, type KairosErrorOptions } from '../core/errors.js';

export type { Proposal } from '../store/proposal-store.js';

export class ProposalError extends RefusedError {
  override name = 'ProposalError';
  constructor(
    readonly code: 'empty' | 'too_large' | 'refused' | 'secret',
    message: string,
    options?: KairosErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The diff format every proposal uses, fixed here so the user's git config (diff.noprefix,
 * diff.external, color.diff=always, diff.renames, textconv drivers) cannot change the bytes that are
 * hashed, shown and later applied. Renames are spelt as delete + create so every touched path is
 * named on its own; full blob ids let `git apply --3way` find the preimages.
 */
export const DIFF_ARGS = [
  '--binary',
  '--full-index',
  '--no-renames',
  '--no-color',
  '--no-ext-diff',
  '--no-textconv',
  '--ignore-submodules=all',
  '--src-prefix=a/',
  '--dst-prefix=b/',
] as const;

export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface MakeProposalOptions {
  db: Db;
  /** The user's repository (the diff will apply there). */
  repo: string;
  worktreeDir: string;
  /** The worktree's base commit (TaskWorktree.base). */
  base: string;
  taskId: string | number;
  summary: string;
  costMicros: number;
  now?: () => Date;
  makeId?: () => string;
  /** Refuse diffs larger than this many bytes (default 5 MiB): nobody reviews more, and it is stored in SQLite. */
  maxDiffBytes?: number;
}

/**
 * Turns the worktree's state into a stored proposal: the daemon indexes the worktree itself
 * (git/tree-index.ts: no `git add`, nothing planted is followed or run), refuses the whole proposal
 * when it carries anything it may not (git/content-rules.ts: `.git` entries, nested repositories,
 * driver-selecting `.gitattributes` lines, `.gitmodules`, symlinks out of the tree, special files,
 * protected paths — whatever wrote them, the agent or a command it ran), then `git diff --cached`
 * of that index against the base. Whatever the agent did in between (edits, commits, resets) the
 * diff is base → what is on disk.
 */
export async function makeProposal(opts: MakeProposalOptions): Promise<Proposal> {
  const layout = await repoLayout(opts.repo);
  const loc = taskWorktreeLocation(layout, opts.worktreeDir);
  const { diff, names } = await withWorktreeIndex(loc, opts.base, String(opts.taskId), async (idx) => {
    const bytes = (await git(loc, ['diff', '--cached', ...DIFF_ARGS, opts.base, '--'], { env: idx.env })).stdout;
    return { diff: bytes, names: idx.changed };
  });
  if (diff.length === 0) {
    throw new ProposalError('empty', `task ${opts.taskId}: the worktree ${opts.worktreeDir} has no changes against ${opts.base}; there is nothing to propose`);
  }
  const max = opts.maxDiffBytes ?? 5 * 1024 * 1024;
  if (diff.length > max) {
    throw new ProposalError(
      'too_large',
      `task ${opts.taskId}: the proposed diff is ${diff.length} bytes, over the ${max}-byte limit; propose a smaller change`,
    );
  }
  // A diff that would write a secret into the user's tree is refused (see diff-secrets.ts for why);
  // the reason names the files and the kinds of secret, never a value or a secret-shaped name.
  const adds = secretsAddedByDiff(diff.toString('utf8'));
  if (adds.length) {
    throw new ProposalError(
      'secret',
      `task ${opts.taskId}: the change would add secrets to your files (${adds.map((a) => `${redactText(a.file)}: ${a.kind}`).join(', ')}); ` +
        'Kairos does not propose credentials in source. Add them yourself (an untracked .env, a secret store) if they are wanted',
    );
  }
  const store = new ProposalStore(opts.db);
  return store.insert(
    {
      taskId: String(opts.taskId),
      repo: layout.top,
      base: opts.base,
      diff,
      hash: sha256Hex(diff),
      // Stored and shown: the model's words were redacted already; this is the last door.
      summary: redactText(opts.summary),
      files: names,
      costMicros: opts.costMicros,
      createdAt: (opts.now ?? (() => new Date()))().toISOString(),
    },
    opts.makeId ?? randomProposalId,
  );
}

/**
 * Indexes a task worktree (the proposal's view of it) and runs `use` with that index, refusing
 * first when the tree carries anything a proposal may not. `who` names the task in messages.
 */
export async function withWorktreeIndex<T>(loc: GitLocation & { workTree: string }, base: string, who: string, use: (idx: WorktreeIndex) => Promise<T>): Promise<T> {
  let idx: WorktreeIndex;
  try {
    idx = await indexWorktree(loc, base, { expectedAdminDir: loc.gitDir });
  } catch (e) {
    if (e instanceof TreeTooLargeError) throw new ProposalError('too_large', `task ${who}: ${e.message}`, { cause: e });
    throw e;
  }
  try {
    if (idx.problems.length) throw new ProposalError('refused', refusalText(who, idx.problems));
    return await use(idx);
  } finally {
    idx.dispose();
  }
}

const SHOWN_PROBLEMS = 8;

/** The reason shown wherever the user sees the task: every problem, up to a handful, then a count. */
export function refusalText(who: string, problems: readonly ContentProblem[]): string {
  const shown = problems.slice(0, SHOWN_PROBLEMS).map((p) => p.why);
  const more = problems.length > SHOWN_PROBLEMS ? `; and ${problems.length - SHOWN_PROBLEMS} more` : '';
  return `task ${who}: proposal refused, nothing was proposed: ${shown.join('; ')}${more}`;
}
