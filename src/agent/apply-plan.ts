import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FileState, Proposal, UndoPoint } from '../store/proposal-store.js';
import { git, type GitLocation } from '../git/safe-git.js';
import { userTree, type RepoLayout } from '../git/locate.js';
import { attributesProblem, isDotGitName, pathProblem, symlinkProblem } from './git/content-rules.js';
import { ApplyError } from './apply-error.js';
import { assertNoSymlinkParent, putFile, pruneEmptyParents, readState, removeFile, restoreBefore, stateAt, sameState, tempName, type CurrentFile } from './tree-files.js';
import { isAbsent, messageOf } from '../core/errors.js';

/** Planning an apply (everything that can refuse happens here, before any byte of the user's tree changes), then carrying the plan out. */

export interface PlannedFile {
  rel: string;
  before: CurrentFile | null;
  after: { state: FileState; bytes: Buffer } | null;
  /** The temp name the new content is written under before the rename. */
  temp: string;
}

export interface Plan {
  files: PlannedFile[];
  undo: UndoPoint;
  touched: string[];
}

export async function planApply(layout: RepoLayout, p: Proposal): Promise<Plan> {
  const top = layout.top;
  const user = userTree(layout);
  const rels = await diffPaths(user, p.diff);
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
      const blob = (await git(user, args, { input: cur.bytes })).stdout.toString('utf8').trim();
      lines.push(`${gitMode(cur.state)} ${blob}\t${rel}\0`);
    }
    if (lines.length > 0) await git(user, ['update-index', '-z', '--index-info'], { input: lines.join(''), env });
    else await git(user, ['read-tree', '--empty'], { env });
    const res = await git(user, ['apply', '--cached', '--3way', '--whitespace=nowarn', '-'], { input: p.diff, env, allowFail: true });
    if (res.code !== 0) {
      throw new ApplyError(
        'conflict',
        `proposal ${p.id} no longer applies to ${top}: the files it changes were edited in conflicting ways since it was made (${summariseGitError(res.stderr)}); nothing was changed — discard it and let the task propose again`,
        rels,
      );
    }
    const staged = await scratchEntries(user, env);
    const files: PlannedFile[] = [];
    for (const rel of rels) {
      const before = befores.get(rel) ?? null;
      const entry = staged.get(rel);
      let after: PlannedFile['after'] = null;
      if (entry) {
        if (entry.mode === '160000') throw new ApplyError('unsafe_path', `proposal ${p.id} would change the submodule ${rel}; Kairos does not apply submodule changes`, [rel]);
        const catArgs = entry.mode === '120000' ? ['cat-file', 'blob', entry.blob] : ['cat-file', '--filters', `--path=${rel}`, entry.blob];
        const bytes = (await git(user, catArgs, { env })).stdout;
        after = { state: afterState(entry.mode, before?.state ?? null, bytes), bytes };
        refuseUnsafeContent(top, p.id, rel, entry.mode, bytes, before);
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
export async function diffPaths(user: GitLocation & { workTree: string }, diff: Buffer): Promise<string[]> {
  const top = user.workTree;
  const res = await git(user, ['apply', '--numstat', '-z', '-'], { input: diff, allowFail: true });
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

/**
 * The last look before the user's tree (a proposal is checked when it is made; this also covers one
 * stored by an older version): what the content rules refuse is never written.
 */
function refuseUnsafeContent(top: string, id: string, rel: string, mode: string, bytes: Buffer, before: CurrentFile | null): void {
  let why: string | undefined;
  if (mode === '120000') why = symlinkProblem(top, rel, bytes.toString('utf8'));
  else if (path.posix.basename(rel).toLowerCase() === '.gitattributes') {
    why = attributesProblem(rel, bytes.toString('utf8'), before && before.state.kind === 'file' ? before.bytes.toString('utf8') : null);
  }
  if (why) throw new ApplyError('unsafe_path', `proposal ${id}: ${why}; it will not be applied`, [rel]);
}

export function checkRelPath(top: string, rel: string): void {
  const segs = rel.split('/');
  const bad =
    rel === '' ||
    rel.includes('\0') ||
    path.isAbsolute(rel) ||
    rel.includes('\\') ||
    segs.some((s) => s === '' || s === '.' || s === '..' || isDotGitName(s));
  if (bad) throw new ApplyError('unsafe_path', `the proposal names the path ${JSON.stringify(rel)}, which is not a plain path inside ${top}; it will not be applied`, [rel]);
  const why = pathProblem(rel);
  if (why) throw new ApplyError('unsafe_path', `the proposal is refused: ${why}; it will not be applied`, [rel]);
}

export async function scratchEntries(user: GitLocation, env: Record<string, string>): Promise<Map<string, { mode: string; blob: string }>> {
  const out = new Map<string, { mode: string; blob: string }>();
  const text = (await git(user, ['ls-files', '-s', '-z'], { env })).stdout.toString('utf8');
  for (const rec of text.split('\0')) {
    const m = /^(\d{6}) ([0-9a-f]+) (\d)\t(.*)$/s.exec(rec);
    if (m) out.set(m[4]!, { mode: m[1]!, blob: m[2]! });
  }
  return out;
}

export function gitMode(s: FileState): string {
  if (s.kind === 'symlink') return '120000';
  return s.mode & 0o100 ? '100755' : '100644';
}

/** Permission bits to write: a file keeps its own bits with only the executable bits following git's mode. */
export function afterState(gitModeText: string, before: FileState | null, bytes: Buffer): FileState {
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

/**
 * Checks every parent folder of a file to be written: each must be a real folder (never a symlink,
 * which could carry the write outside the tree) or not exist yet (it is created, and recorded so
 * undo removes it). A parent that is a file the same diff deletes counts as absent.
 */
export function dirsToCreate(top: string, files: readonly PlannedFile[]): string[] {
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
        } catch (e) {
          // Not there: created by the apply. Unreadable is not "not there": the apply stops and says why.
          if (!isAbsent(e)) throw e;
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

/** Writes the plan; on any failure puts back what was already written and throws. Deletions go first so a file can become a folder. */
export function writePlan(top: string, plan: Plan): void {
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
        `applying stopped part-way (${messageOf(err)}) and putting the files back failed too (${messageOf(rollbackErr)}); check ${partial.files.map((f) => f.path).join(', ')} by hand`,
        partial.files.map((f) => f.path),
        { cause: err },
      );
    }
    if (err instanceof ApplyError) throw err;
    throw new ApplyError('write_failed', `could not write the proposal's files into ${top}: ${messageOf(err)}; nothing was changed`, plan.files.map((f) => f.rel), { cause: err });
  }
}

/**
 * git's complaint in one line. With --3way, git tries the merge first and falls back to a direct
 * application per file, so it prints chatter about files that in the end applied fine (binary files
 * "lack the blob" for a merge); only the lines about what failed are kept, and 'U <path>' (a merge
 * conflict) is spelt out.
 */
export function summariseGitError(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(Checking patch|Applied patch .* cleanly|Falling back|Performing three-way merge)|lacks the necessary blob/.test(l))
    .map((l) => l.replace(/^U (.*)$/, 'merge conflict in $1'));
  return [...new Set(lines)].slice(-4).join('; ').slice(0, 400) || 'git gave no reason';
}
