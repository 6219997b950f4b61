import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../store/db.js';
import { ProposalStore, type Proposal, type ProposalState, type UndoFile, type UndoPoint } from '../store/proposal-store.js';
import { sha256Hex } from './proposal.js';
import { repoLayout } from './worktree.js';
import type { RepoLayout } from '../git/locate.js';
import { ApplyError } from './apply-error.js';
import { planApply, writePlan } from './apply-plan.js';
import { assertNoSymlinkParent, restoreBefore, sameState, stateAt, undoTouched } from './tree-files.js';
import { messageOf } from '../core/errors.js';

export { ApplyError, type ApplyErrorCode } from './apply-error.js';

/**
 * Applying a proposal to the user's working tree, and undoing it.
 *
 * How the diff is applied (and why the user's index is never touched):
 * `git apply --3way` on the user's tree would imply `--index`, which refuses any file whose working
 * copy differs from the index (the normal state of a file being edited) and, on a conflict, leaves
 * conflict markers and unmerged index entries behind. Instead the merge is computed off to the side:
 * a scratch index (GIT_INDEX_FILE in a temp folder) is loaded with the user's CURRENT bytes of every
 * file the diff touches, `git apply --cached --3way` runs against it (a clean apply, or a 3-way merge
 * using the base blobs from the proposal's `index` lines when the user's file moved on), and only
 * when that succeeds for every file are the resulting bytes written, file by file (temp file +
 * rename), with the undo point recorded in SQLite first. A conflict therefore changes nothing.
 *
 * Afterwards the user's index is exactly as it was: the applied changes show as unstaged
 * modifications, new files as untracked, deleted files as deleted-but-not-staged — as if the user
 * had made the edits by hand. Nothing is committed and no branch moves.
 */

export interface ApplyOptions {
  db: Db;
  proposalId: string;
  /** The sha256 (hex) of the diff the human approved; must equal the stored hash and the stored diff's hash. */
  hash: string;
  repo: string;
  /** Called once, after all checks and before the first write, with every repo-relative path about to be written or removed (including Kairos's temp files). */
  onBeforeWrite?: (paths: string[]) => void | Promise<void>;
  now?: () => Date;
}

export interface ApplyResult {
  applied: true;
  files: string[];
}

export async function applyProposal(opts: ApplyOptions): Promise<ApplyResult> {
  const store = new ProposalStore(opts.db);
  const p = store.get(opts.proposalId);
  if (!p) throw new ApplyError('not_found', `proposal ${opts.proposalId} does not exist; list proposals with \`kairos tasks\``);
  const given = opts.hash.trim().toLowerCase();
  if (given !== p.hash) {
    throw new ApplyError(
      'hash_mismatch',
      `proposal ${p.id}: the hash given (${given || 'empty'}) is not the hash of its diff (${p.hash}); the diff you approved is not this one — review it again with \`kairos tasks\` and pass its hash`,
    );
  }
  if (sha256Hex(p.diff) !== p.hash) {
    throw new ApplyError(
      'hash_mismatch',
      `proposal ${p.id}: the stored diff no longer matches the hash it was shown with (it was changed after it was proposed); it will not be applied — discard it and let the task propose again`,
    );
  }
  const layout = await checkRepo(p, opts.repo);
  const top = layout.top;
  const from = p.state;
  if (from !== 'proposed' && from !== 'undone') throw stateError(p.id, from, 'apply');
  // The claim: one conditional UPDATE, so of two concurrent applies exactly one goes on to write.
  if (!store.move(p.id, [from], 'applying')) throw stateError(p.id, store.get(p.id)?.state ?? from, 'apply');
  const now = opts.now ?? (() => new Date());
  try {
    const plan = await planApply(layout, p);
    store.setUndo(p.id, plan.undo);
    await opts.onBeforeWrite?.(plan.touched);
    writePlan(top, plan);
    store.move(p.id, ['applying'], 'applied', { appliedAt: now().toISOString(), undoneAt: null });
    return { applied: true, files: plan.undo.files.map((f) => f.path) };
  } catch (err) {
    store.move(p.id, ['applying'], from, { clearUndo: true });
    throw err;
  }
}

export interface UndoOptions {
  db: Db;
  proposalId: string;
  repo: string;
  /** Restore even files the user changed after the apply (their changes are lost). */
  force?: boolean;
  onBeforeWrite?: (paths: string[]) => void | Promise<void>;
  now?: () => Date;
}

export interface UndoResult {
  restored: string[];
}

/**
 * Puts back exactly the pre-apply bytes and permission bits of every file the apply touched (a file
 * it created is removed, a file it deleted comes back). Refuses with 'changed_since' when a file no
 * longer holds what the apply wrote, unless `force`. A file already back to its pre-apply state
 * counts as undone, so an interrupted undo can simply be run again.
 */
export async function undoProposal(opts: UndoOptions): Promise<UndoResult> {
  const store = new ProposalStore(opts.db);
  const p = store.get(opts.proposalId);
  if (!p) throw new ApplyError('not_found', `proposal ${opts.proposalId} does not exist; list proposals with \`kairos tasks\``);
  const top = (await checkRepo(p, opts.repo)).top;
  if (p.state !== 'applied') throw stateError(p.id, p.state, 'undo');
  if (!store.move(p.id, ['applied'], 'undoing')) throw stateError(p.id, store.get(p.id)?.state ?? p.state, 'undo');
  const now = opts.now ?? (() => new Date());
  try {
    const undo = store.undo(p.id);
    if (!undo) throw new ApplyError('not_applied', `proposal ${p.id} is marked applied but has no undo point; restore the files by hand (git diff shows them)`);
    for (const f of undo.files) assertNoSymlinkParent(top, f.path);
    const changed = undo.files.filter((f) => {
      const cur = stateAt(path.join(top, f.path));
      return !sameState(cur, f.after) && !sameState(cur, f.before);
    });
    if (changed.length > 0 && !opts.force) {
      const names = changed.map((f) => f.path);
      throw new ApplyError(
        'changed_since',
        `proposal ${p.id}: ${names.join(', ')} changed after the proposal was applied; undoing would lose those changes — save them elsewhere and run \`kairos undo ${p.id} --force\``,
        names,
      );
    }
    await opts.onBeforeWrite?.(undoTouched(undo));
    try {
      restoreBefore(top, undo);
    } catch (err) {
      throw new ApplyError('write_failed', `proposal ${p.id}: undo stopped part-way: ${messageOf(err)}; fix that and run \`kairos undo ${p.id}\` again`, [], { cause: err });
    }
    store.move(p.id, ['undoing'], 'undone', { undoneAt: now().toISOString() });
    return { restored: undo.files.map((f) => f.path) };
  } catch (err) {
    store.move(p.id, ['undoing'], 'applied');
    throw err;
  }
}

export interface RecoveredProposal {
  id: string;
  /** The state the proposal was left in. */
  state: ProposalState;
  /** Files put back to their pre-apply content. */
  restored: string[];
  /** Files that held neither the pre- nor the post-apply content (the user changed them): left alone. */
  kept: string[];
}

/**
 * Start-up recovery for a crash in the middle of writing: an interrupted apply is rolled back (state
 * 'proposed', so it can be applied again) and an interrupted undo is completed (state 'undone'). Each
 * file is written by rename, so it holds either its before or after content unless the user edited it
 * since; such a file is left alone and reported.
 */
export async function recoverInterruptedApplies(opts: { db: Db; onBeforeWrite?: (paths: string[]) => void | Promise<void>; now?: () => Date }): Promise<RecoveredProposal[]> {
  const store = new ProposalStore(opts.db);
  const out: RecoveredProposal[] = [];
  const now = opts.now ?? (() => new Date());
  for (const p of store.inStates(['applying', 'undoing'])) {
    const undo = store.undo(p.id);
    const restored: string[] = [];
    const kept: string[] = [];
    if (undo && fs.existsSync(p.repo)) {
      const toRestore: UndoFile[] = [];
      for (const f of undo.files) {
        const cur = stateAt(path.join(p.repo, f.path));
        if (sameState(cur, f.before)) continue;
        if (sameState(cur, f.after)) toRestore.push(f);
        else kept.push(f.path);
      }
      const partial: UndoPoint = { files: toRestore, createdDirs: undo.createdDirs };
      await opts.onBeforeWrite?.(undoTouched(partial));
      restoreBefore(p.repo, partial);
      restored.push(...toRestore.map((f) => f.path));
    }
    const state: ProposalState = p.state === 'applying' ? 'proposed' : 'undone';
    if (state === 'proposed') store.move(p.id, ['applying'], 'proposed', { clearUndo: true });
    else store.move(p.id, ['undoing'], 'undone', { undoneAt: now().toISOString() });
    out.push({ id: p.id, state, restored, kept });
  }
  return out;
}

async function checkRepo(p: Proposal, repo: string): Promise<RepoLayout> {
  const layout = await repoLayout(repo);
  if (layout.top !== p.repo) {
    throw new ApplyError('wrong_repo', `proposal ${p.id} belongs to ${p.repo}, not ${layout.top}; run the command for that repository`);
  }
  return layout;
}

function stateError(id: string, state: ProposalState, verb: 'apply' | 'undo'): ApplyError {
  if (verb === 'apply') {
    if (state === 'discarded') return new ApplyError('discarded', `proposal ${id} was discarded and cannot be applied; let the task propose again`);
    return new ApplyError('already_applied', `proposal ${id} is already ${state === 'applying' ? 'being applied' : 'applied'}; undo it first with \`kairos undo ${id}\` to apply it again`);
  }
  if (state === 'applying' || state === 'undoing') return new ApplyError('busy', `proposal ${id} is being ${state === 'applying' ? 'applied' : 'undone'} right now; try again in a moment`);
  return new ApplyError('not_applied', `proposal ${id} is ${state}, not applied; there is nothing to undo`);
}
