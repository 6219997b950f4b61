import { createHash } from 'node:crypto';
import type { Db } from '../store/db.js';
import { ProposalStore, randomProposalId, type Proposal } from '../store/proposal-store.js';
import { repoTopLevel, runGit } from './worktree.js';
import { isProtected } from '../policy/protected-paths.js';
import { secretsAddedByDiff } from '../policy/redact/diff-secrets.js';
import { redactText } from '../policy/filter.js';

export type { Proposal } from '../store/proposal-store.js';

export class ProposalError extends Error {
  override name = 'ProposalError';
  constructor(
    readonly code: 'empty' | 'too_large' | 'secret',
    message: string,
  ) {
    super(message);
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
 * Turns the worktree's state into a stored proposal: `git add -A` in the worktree (its own index, so
 * new files are included and .gitignore'd build output is not), then `git diff --cached` against the
 * base. Whatever the agent did in between (edits, commits, resets) the diff is base → what is on disk.
 */
/**
 * The agent's file tools refuse protected paths, but a command it runs in the sandbox may write
 * anything inside the worktree (a test that drops a `.husky/pre-commit` or a `.claude/settings.json`).
 * The proposal is the one door into the user's tree, so protected paths are taken out of it here,
 * whatever wrote them; returns those left out.
 */
async function unstageProtected(worktreeDir: string, base: string): Promise<string[]> {
  const staged = (await runGit(worktreeDir, ['diff', '--cached', '--name-only', '-z', '--no-renames', '--ignore-submodules=all', base, '--'])).stdout
    .toString('utf8')
    .split('\0')
    .filter((n) => n.length > 0 && isProtected(n));
  if (staged.length) await runGit(worktreeDir, ['reset', '-q', base, '--', ...staged.map((n) => `:(literal)${n}`)]);
  return staged;
}

export async function makeProposal(opts: MakeProposalOptions): Promise<Proposal> {
  const repo = await repoTopLevel(opts.repo);
  await runGit(opts.worktreeDir, ['add', '-A', '--', '.']);
  const leftOut = await unstageProtected(opts.worktreeDir, opts.base);
  const note = leftOut.length ? `\n\n[Left out: changes to protected paths, which the agent may never make: ${leftOut.join(', ')}]` : '';
  const diff = (await runGit(opts.worktreeDir, ['diff', '--cached', ...DIFF_ARGS, opts.base, '--'])).stdout;
  if (diff.length === 0) {
    throw new ProposalError('empty', `task ${opts.taskId}: the worktree ${opts.worktreeDir} has no changes against ${opts.base}; there is nothing to propose${note}`);
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
  const names = (await runGit(opts.worktreeDir, ['diff', '--cached', '--name-only', '-z', '--no-renames', '--ignore-submodules=all', opts.base, '--'])).stdout
    .toString('utf8')
    .split('\0')
    .filter((n) => n.length > 0);
  const store = new ProposalStore(opts.db);
  return store.insert(
    {
      taskId: String(opts.taskId),
      repo,
      base: opts.base,
      diff,
      hash: sha256Hex(diff),
      // Stored and shown: the model's words were redacted already; the note names paths.
      summary: redactText(opts.summary + note),
      files: names,
      costMicros: opts.costMicros,
      createdAt: (opts.now ?? (() => new Date()))().toISOString(),
    },
    opts.makeId ?? randomProposalId,
  );
}
