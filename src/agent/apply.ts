import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Db } from '../store/db.js';
import { ProposalStore, type FileState, type Proposal, type ProposalState, type UndoFile, type UndoPoint } from '../store/proposal-store.js';
import { sha256Hex } from './proposal.js';
import { repoTopLevel, runGit } from './worktree.js';

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

export type ApplyErrorCode =
  | 'not_found'
  | 'wrong_repo'
  | 'hash_mismatch'
  | 'already_applied'
  | 'discarded'
  | 'busy'
  | 'conflict'
  | 'unsafe_path'
  | 'write_failed'
  | 'not_applied'
  | 'changed_since';

export class ApplyError extends Error {
  override name = 'ApplyError';
  constructor(
    readonly code: ApplyErrorCode,
    message: string,
    /** The files the refusal is about, when there are any. */
    readonly files: readonly string[] = [],
  ) {
    super(message);
  }
}

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
  const top = await checkRepo(p, opts.repo);
  const from = p.state;
  if (from !== 'proposed' && from !== 'undone') throw stateError(p.id, from, 'apply');
  // The claim: one conditional UPDATE, so of two concurrent applies exactly one goes on to write.
  if (!store.move(p.id, [from], 'applying')) throw stateError(p.id, store.get(p.id)?.state ?? from, 'apply');
  const now = opts.now ?? (() => new Date());
  try {
    const plan = await planApply(top, p);
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
  const top = await checkRepo(p, opts.repo);
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
      throw new ApplyError('write_failed', `proposal ${p.id}: undo stopped part-way: ${(err as Error).message}; fix that and run \`kairos undo ${p.id}\` again`);
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

async function checkRepo(p: Proposal, repo: string): Promise<string> {
  const top = await repoTopLevel(repo);
  if (top !== p.repo) {
    throw new ApplyError('wrong_repo', `proposal ${p.id} belongs to ${p.repo}, not ${top}; run the command for that repository`);
  }
  return top;
}

function stateError(id: string, state: ProposalState, verb: 'apply' | 'undo'): ApplyError {
  if (verb === 'apply') {
    if (state === 'discarded') return new ApplyError('discarded', `proposal ${id} was discarded and cannot be applied; let the task propose again`);
    return new ApplyError('already_applied', `proposal ${id} is already ${state === 'applying' ? 'being applied' : 'applied'}; undo it first with \`kairos undo ${id}\` to apply it again`);
  }
  if (state === 'applying' || state === 'undoing') return new ApplyError('busy', `proposal ${id} is being ${state === 'applying' ? 'applied' : 'undone'} right now; try again in a moment`);
  return new ApplyError('not_applied', `proposal ${id} is ${state}, not applied; there is nothing to undo`);
}

// ---------------------------------------------------------------------------------------------
// Planning: everything that can refuse happens here, before any byte of the user's tree changes.

interface CurrentFile {
  state: FileState;
  bytes: Buffer;
}

interface PlannedFile {
  rel: string;
  before: CurrentFile | null;
  after: { state: FileState; bytes: Buffer } | null;
  /** The temp name the new content is written under before the rename. */
  temp: string;
}

interface Plan {
  files: PlannedFile[];
  undo: UndoPoint;
  touched: string[];
}

async function planApply(top: string, p: Proposal): Promise<Plan> {
  const rels = await diffPaths(top, p.diff);
  // Before anything is read: a symlinked parent folder could point a read or a write outside the tree.
  for (const rel of rels) assertNoSymlinkParent(top, rel);
  const befores = new Map<string, CurrentFile | null>();
  for (const rel of rels) {
    const cur = readState(path.join(top, rel));
    if (cur === 'dir') throw new ApplyError('conflict', `${rel} is a folder in ${top}, but the proposal changes it as a file; move the folder away or discard the proposal`, [rel]);
    befores.set(rel, cur);
  }

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-apply-'));
  try {
    const env = { GIT_INDEX_FILE: path.join(scratch, 'index') };
    // The scratch index holds the user's current version of each touched file, so the patch (or the
    // 3-way merge) is checked against what is on disk now, not against HEAD or the user's index.
    const lines: string[] = [];
    for (const rel of rels) {
      const cur = befores.get(rel);
      if (!cur) continue;
      const args = cur.state.kind === 'symlink' ? ['hash-object', '-w', '--no-filters', '--stdin'] : ['hash-object', '-w', `--path=${rel}`, '--stdin'];
      const blob = (await runGit(top, args, { input: cur.bytes })).stdout.toString('utf8').trim();
      lines.push(`${gitMode(cur.state)} ${blob}\t${rel}\0`);
    }
    if (lines.length > 0) await runGit(top, ['update-index', '-z', '--index-info'], { input: lines.join(''), env });
    else await runGit(top, ['read-tree', '--empty'], { env });
    const res = await runGit(top, ['apply', '--cached', '--3way', '--whitespace=nowarn', '-'], { input: p.diff, env, allowFail: true });
    if (res.code !== 0) {
      throw new ApplyError(
        'conflict',
        `proposal ${p.id} no longer applies to ${top}: the files it changes were edited in conflicting ways since it was made (${summariseGitError(res.stderr)}); nothing was changed — discard it and let the task propose again`,
        rels,
      );
    }
    const staged = await scratchEntries(top, env);
    const files: PlannedFile[] = [];
    for (const rel of rels) {
      const before = befores.get(rel) ?? null;
      const entry = staged.get(rel);
      let after: PlannedFile['after'] = null;
      if (entry) {
        if (entry.mode === '160000') throw new ApplyError('unsafe_path', `proposal ${p.id} would change the submodule ${rel}; Kairos does not apply submodule changes`, [rel]);
        const catArgs = entry.mode === '120000' ? ['cat-file', 'blob', entry.blob] : ['cat-file', '--filters', `--path=${rel}`, entry.blob];
        const bytes = (await runGit(top, catArgs, { env })).stdout;
        after = { state: afterState(entry.mode, before?.state ?? null, bytes), bytes };
      }
      files.push({ rel, before, after, temp: tempName(rel) });
    }
    const createdDirs = dirsToCreate(top, files);
    const undo: UndoPoint = {
      files: files.map((f) => ({
        path: f.rel,
        before: f.before ? { ...f.before.state, content: f.before.bytes.toString('base64') } : null,
        after: f.after ? f.after.state : null,
      })),
      createdDirs,
    };
    const touched = [...files.map((f) => f.rel), ...files.filter((f) => f.after).map((f) => f.temp)];
    return { files, undo, touched };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** The paths the diff touches, read by git itself (`apply --numstat`), each checked to stay inside the tree. */
async function diffPaths(top: string, diff: Buffer): Promise<string[]> {
  const res = await runGit(top, ['apply', '--numstat', '-z', '-'], { input: diff, allowFail: true });
  if (res.code !== 0) throw new ApplyError('conflict', `the stored diff cannot be read by git apply: ${summariseGitError(res.stderr)}`);
  const fields = res.stdout.toString('utf8').split('\0');
  const out = new Set<string>();
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f === '') continue;
    const m = /^(?:\d+|-)\t(?:\d+|-)\t(.*)$/s.exec(f);
    if (!m) continue;
    if (m[1]) out.add(m[1]);
    else {
      // A rename record: "<a>\t<d>\t\0<old>\0<new>\0" (proposals are made with --no-renames, but be exact).
      out.add(fields[++i] ?? '');
      out.add(fields[++i] ?? '');
    }
  }
  const rels = [...out];
  for (const rel of rels) checkRelPath(top, rel);
  return rels;
}

function checkRelPath(top: string, rel: string): void {
  const segs = rel.split('/');
  const bad =
    rel === '' ||
    rel.includes('\0') ||
    path.isAbsolute(rel) ||
    rel.includes('\\') ||
    segs.some((s) => s === '' || s === '.' || s === '..' || s.toLowerCase() === '.git');
  if (bad) throw new ApplyError('unsafe_path', `the proposal names the path ${JSON.stringify(rel)}, which is not a plain path inside ${top}; it will not be applied`, [rel]);
}

async function scratchEntries(top: string, env: Record<string, string>): Promise<Map<string, { mode: string; blob: string }>> {
  const out = new Map<string, { mode: string; blob: string }>();
  const text = (await runGit(top, ['ls-files', '-s', '-z'], { env })).stdout.toString('utf8');
  for (const rec of text.split('\0')) {
    const m = /^(\d{6}) ([0-9a-f]+) (\d)\t(.*)$/s.exec(rec);
    if (m) out.set(m[4]!, { mode: m[1]!, blob: m[2]! });
  }
  return out;
}

function gitMode(s: FileState): string {
  if (s.kind === 'symlink') return '120000';
  return s.mode & 0o100 ? '100755' : '100644';
}

/** Permission bits to write: a file keeps its own bits with only the executable bits following git's mode. */
function afterState(gitModeText: string, before: FileState | null, bytes: Buffer): FileState {
  const hash = createHash('sha256').update(bytes).digest('hex');
  if (gitModeText === '120000') return { kind: 'symlink', mode: 0o777, sha256: hash };
  const exec = gitModeText === '100755';
  let mode: number;
  if (before && before.kind === 'file') {
    const base = before.mode & ~0o111;
    mode = exec ? base | ((base & 0o444) >> 2) : base;
  } else {
    mode = exec ? 0o755 : 0o644;
  }
  return { kind: 'file', mode, sha256: hash };
}

function tempName(rel: string): string {
  const dir = path.posix.dirname(rel);
  const base = path.posix.basename(rel).slice(0, 100);
  const name = `.${base}.kairos-${randomBytes(4).toString('hex')}`;
  return dir === '.' ? name : `${dir}/${name}`;
}

function assertNoSymlinkParent(top: string, rel: string): void {
  const segs = rel.split('/');
  for (let i = 1; i < segs.length; i++) {
    const parent = segs.slice(0, i).join('/');
    let st: fs.Stats;
    try {
      st = fs.lstatSync(path.join(top, parent));
    } catch {
      return;
    }
    if (st.isSymbolicLink()) throw new ApplyError('unsafe_path', `${parent} is a symlink in ${top}; Kairos will not read or write ${rel} through it`, [rel]);
    if (!st.isDirectory()) return;
  }
}

/**
 * Checks every parent folder of a file to be written: each must be a real folder (never a symlink,
 * which could carry the write outside the tree) or not exist yet (it is created, and recorded so
 * undo removes it). A parent that is a file the same diff deletes counts as absent.
 */
function dirsToCreate(top: string, files: readonly PlannedFile[]): string[] {
  const deleted = new Set(files.filter((f) => f.before && !f.after).map((f) => f.rel));
  const created: string[] = [];
  const seen = new Set<string>();
  for (const f of files) {
    const segs = f.rel.split('/');
    let missing = false;
    for (let i = 1; i < segs.length; i++) {
      const rel = segs.slice(0, i).join('/');
      if (!missing) {
        let st: fs.Stats | null = null;
        try {
          st = fs.lstatSync(path.join(top, rel));
        } catch {
          st = null;
        }
        if (st?.isSymbolicLink()) {
          throw new ApplyError('unsafe_path', `${rel} is a symlink in ${top}; Kairos will not write ${f.rel} through it`, [f.rel]);
        }
        if (st && !st.isDirectory()) {
          if (!f.after) break;
          if (!deleted.has(rel)) throw new ApplyError('conflict', `${rel} is a file in ${top}, but the proposal puts ${f.rel} inside it; nothing was changed`, [f.rel]);
          missing = true;
        } else if (!st) {
          missing = true;
        }
      }
      if (missing && f.after && !seen.has(rel)) {
        seen.add(rel);
        created.push(rel);
      }
    }
  }
  return created;
}

// ---------------------------------------------------------------------------------------------
// Writing.

function readState(abs: string): CurrentFile | null | 'dir' {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) {
    const bytes = fs.readlinkSync(abs, { encoding: 'buffer' });
    return { state: { kind: 'symlink', mode: 0o777, sha256: sha256Hex(bytes) }, bytes };
  }
  if (!st.isFile()) throw new ApplyError('unsafe_path', `${abs} is neither a file, a symlink nor a folder; Kairos will not replace it`);
  const bytes = fs.readFileSync(abs);
  return { state: { kind: 'file', mode: st.mode & 0o7777, sha256: sha256Hex(bytes) }, bytes };
}

function stateAt(abs: string): FileState | null | 'dir' {
  const cur = readState(abs);
  return cur === 'dir' || cur === null ? cur : cur.state;
}

function sameState(cur: FileState | null | 'dir', want: FileState | null): boolean {
  if (cur === 'dir') return false;
  if (cur === null || want === null) return cur === want;
  return cur.kind === want.kind && cur.sha256 === want.sha256 && (cur.kind === 'symlink' || cur.mode === want.mode);
}

function putFile(top: string, rel: string, state: FileState, bytes: Buffer, temp: string): void {
  const abs = path.join(top, rel);
  const tmp = path.join(top, temp);
  try {
    if (state.kind === 'symlink') fs.symlinkSync(bytes, tmp);
    else {
      fs.writeFileSync(tmp, bytes, { mode: state.mode, flag: 'wx' });
      // The mode given at creation is reduced by the umask; the recorded bits are the truth.
      fs.chmodSync(tmp, state.mode);
    }
    fs.renameSync(tmp, abs);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

function removeFile(top: string, rel: string): void {
  fs.rmSync(path.join(top, rel), { force: true });
}

/** Removes now-empty parent folders of a deleted file, as `git apply` does, up to the tree's top. */
function pruneEmptyParents(top: string, rel: string): void {
  let dir = path.posix.dirname(rel);
  while (dir !== '.' && dir !== '') {
    try {
      fs.rmdirSync(path.join(top, dir));
    } catch {
      return;
    }
    dir = path.posix.dirname(dir);
  }
}

/** Writes the plan; on any failure puts back what was already written and throws. Deletions go first so a file can become a folder. */
function writePlan(top: string, plan: Plan): void {
  const order = [...plan.files.filter((f) => !f.after), ...plan.files.filter((f) => f.after)];
  const done: PlannedFile[] = [];
  try {
    for (const f of order) {
      // The last look before writing: a file edited since the plan was made is not overwritten.
      if (!sameState(stateAt(path.join(top, f.rel)), f.before?.state ?? null)) {
        throw new ApplyError('conflict', `${f.rel} changed while the proposal was being applied; nothing was changed — try again`, [f.rel]);
      }
      done.push(f);
      if (f.after) {
        fs.mkdirSync(path.join(top, path.posix.dirname(f.rel)), { recursive: true });
        putFile(top, f.rel, f.after.state, f.after.bytes, f.temp);
      } else {
        removeFile(top, f.rel);
        pruneEmptyParents(top, f.rel);
      }
    }
  } catch (err) {
    const partial: UndoPoint = { files: plan.undo.files.filter((u) => done.some((d) => d.rel === u.path)), createdDirs: plan.undo.createdDirs };
    try {
      restoreBefore(top, partial);
    } catch (rollbackErr) {
      throw new ApplyError(
        'write_failed',
        `applying stopped part-way (${(err as Error).message}) and putting the files back failed too (${(rollbackErr as Error).message}); check ${partial.files.map((f) => f.path).join(', ')} by hand`,
        partial.files.map((f) => f.path),
      );
    }
    if (err instanceof ApplyError) throw err;
    throw new ApplyError('write_failed', `could not write the proposal's files into ${top}: ${(err as Error).message}; nothing was changed`, plan.files.map((f) => f.rel));
  }
}

function undoTouched(undo: UndoPoint): string[] {
  return undo.files.map((f) => f.path);
}

/** Puts every file of the undo point back to its `before` state and removes the folders the apply created (when empty). */
function restoreBefore(top: string, undo: UndoPoint): void {
  for (const f of undo.files) assertNoSymlinkParent(top, f.path);
  for (const f of undo.files) if (!f.before) removeFile(top, f.path);
  for (const dir of [...undo.createdDirs].reverse()) {
    try {
      fs.rmdirSync(path.join(top, dir));
    } catch {
      // Not empty (the user put something there) or already gone: keep it.
    }
  }
  for (const f of undo.files) {
    if (!f.before) continue;
    const bytes = Buffer.from(f.before.content ?? '', 'base64');
    const cur = stateAt(path.join(top, f.path));
    if (cur === 'dir') throw new Error(`${f.path} is now a folder; move it away to restore the file`);
    if (sameState(cur, f.before)) continue;
    fs.mkdirSync(path.join(top, path.posix.dirname(f.path)), { recursive: true });
    putFile(top, f.path, f.before, bytes, tempName(f.path));
  }
}

/**
 * git's complaint in one line. With --3way, git tries the merge first and falls back to a direct
 * application per file, so it prints chatter about files that in the end applied fine (binary files
 * "lack the blob" for a merge); only the lines about what failed are kept, and 'U <path>' (a merge
 * conflict) is spelt out.
 */
function summariseGitError(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(Checking patch|Applied patch .* cleanly|Falling back|Performing three-way merge)|lacks the necessary blob/.test(l))
    .map((l) => l.replace(/^U (.*)$/, 'merge conflict in $1'));
  return [...new Set(lines)].slice(-4).join('; ').slice(0, 400) || 'git gave no reason';
}
