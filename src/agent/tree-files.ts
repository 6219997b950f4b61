import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FileState, UndoPoint } from '../store/proposal-store.js';
import { sha256Hex } from './proposal.js';
import { ApplyError } from './apply-error.js';
import { isAbsent, errnoCode } from '../core/errors.js';

/** Reading and writing the user's files one at a time, exactly: bytes and modes, temp file then rename, and restoring an undo point. */

export interface CurrentFile {
  state: FileState;
  bytes: Buffer;
}

export function tempName(rel: string): string {
  const dir = path.posix.dirname(rel);
  const base = path.posix.basename(rel).slice(0, 100);
  const name = `.${base}.kairos-${randomBytes(4).toString('hex')}`;
  return dir === '.' ? name : `${dir}/${name}`;
}

export function assertNoSymlinkParent(top: string, rel: string): void {
  const segs = rel.split('/');
  for (let i = 1; i < segs.length; i++) {
    const parent = segs.slice(0, i).join('/');
    let st: fs.Stats;
    try {
      st = fs.lstatSync(path.join(top, parent));
    } catch (e) {
      // Not there: no symlink on the way; the write creates the folders. Anything else is not that.
      if (isAbsent(e)) return;
      throw e;
    }
    if (st.isSymbolicLink()) throw new ApplyError('unsafe_path', `${parent} is a symlink in ${top}; Kairos will not read or write ${rel} through it`, [rel]);
    if (!st.isDirectory()) return;
  }
}

export function readState(abs: string): CurrentFile | null | 'dir' {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(abs);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return null;
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

export function stateAt(abs: string): FileState | null | 'dir' {
  const cur = readState(abs);
  return cur === 'dir' || cur === null ? cur : cur.state;
}

export function sameState(cur: FileState | null | 'dir', want: FileState | null): boolean {
  if (cur === 'dir') return false;
  if (cur === null || want === null) return cur === want;
  return cur.kind === want.kind && cur.sha256 === want.sha256 && (cur.kind === 'symlink' || cur.mode === want.mode);
}

export function putFile(top: string, rel: string, state: FileState, bytes: Buffer, temp: string): void {
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

export function removeFile(top: string, rel: string): void {
  fs.rmSync(path.join(top, rel), { force: true });
}

/** Removes now-empty parent folders of a deleted file, as `git apply` does, up to the tree's top. */
export function pruneEmptyParents(top: string, rel: string): void {
  let dir = path.posix.dirname(rel);
  while (dir !== '.' && dir !== '') {
    try {
      fs.rmdirSync(path.join(top, dir));
    } catch {
      // Not empty (ENOTEMPTY: the user's files stay), or gone: the pruning stops here, as git's does. Nothing is lost.
      return;
    }
    dir = path.posix.dirname(dir);
  }
}

export function undoTouched(undo: UndoPoint): string[] {
  return undo.files.map((f) => f.path);
}

/** Puts every file of the undo point back to its `before` state and removes the folders the apply created (when empty). */
export function restoreBefore(top: string, undo: UndoPoint): void {
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
