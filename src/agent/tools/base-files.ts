import path from 'node:path';
import { fenceUntrusted, isNeverRead } from '../../policy/filter.js';
import { git as safeGit, type GitLocation } from '../../git/safe-git.js';
import type { ToolInput } from './schemas.js';
import { ToolError } from './tool-error.js';
import { grepAnswer, listingOf } from './files.js';
import { gitGrepMatches } from './grep-output.js';
import { messageOf } from '../../core/errors.js';

/**
 * The read tools before a task's worktree exists: they answer from the task's base commit (HEAD plus
 * the user's uncommitted changes as snapshotted when the task started), read as git objects from the
 * user's repository. That is exactly what the worktree would hold right after its checkout, and what
 * the proposal's diff is taken against, so reading here and reading the worktree later agree; the
 * user editing their files meanwhile changes nothing the agent sees (the base is a snapshot).
 *
 * No work tree is touched: nothing planted in the user's tree is followed, no FIFO can block, no
 * filter or driver runs (objects are read through the daemon's git runner, by object id). Only
 * regular blobs are read; a symlink is named with its target, never followed.
 */
export interface BaseScope {
  /** The user's git dir (objects, refs): the base commit lives there. */
  gitDir: string;
  /** The base commit id. */
  base: string;
  /** Absolute folders the model may name a path under (the user's repository, the worktree-to-be). */
  roots: readonly string[];
  maxReadBytes: number;
  gitTimeoutMs?: number;
}

const GIT_TIMEOUT_MS = 60_000;

async function run(scope: BaseScope, args: readonly string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const loc: GitLocation = { gitDir: scope.gitDir };
  try {
    const r = await safeGit(loc, args, { allowFail: true, timeoutMs: scope.gitTimeoutMs ?? GIT_TIMEOUT_MS });
    return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    return { code: -1, stdout: Buffer.alloc(0), stderr: messageOf(e) };
  }
}

/**
 * The repository-relative path the model named, lexically ('' for the top): relative, or absolute
 * under one of the scope's roots; never above the top. The base has no symlinked folders to resolve
 * (a path through a symlink is simply not in the tree).
 */
export function baseRelative(scope: Pick<BaseScope, 'roots'>, p: string): string {
  if (p.includes('\0')) throw new ToolError(`${p}: the path contains a NUL byte`);
  if (p === '') throw new ToolError('the path is empty');
  let input = p;
  if (path.isAbsolute(p)) {
    const root = scope.roots.find((r) => p === r || p.startsWith(r + path.sep));
    if (root === undefined) throw new ToolError(`${p}: '${p}' is an absolute path outside the repository`);
    input = path.relative(root, p);
  }
  const rel = path.posix.normalize(input.split(path.sep).join('/'));
  if (rel === '..' || rel.startsWith('../') || path.posix.isAbsolute(rel)) throw new ToolError(`${p}: '${p}' is outside the repository`);
  return rel === '.' ? '' : rel.replace(/\/+$/, '');
}

interface TreeEntry {
  mode: string;
  type: string;
  oid: string;
  size: number | undefined;
}

/** The base's entry at `rel` (its parent folder listed by path, so nothing in `rel` is a pattern). */
async function entryAt(scope: BaseScope, rel: string): Promise<TreeEntry | undefined> {
  const slash = rel.lastIndexOf('/');
  const parent = slash < 0 ? '' : rel.slice(0, slash);
  const name = slash < 0 ? rel : rel.slice(slash + 1);
  const r = await run(scope, ['ls-tree', '-z', '-l', parent ? `${scope.base}:${parent}` : `${scope.base}^{tree}`]);
  if (r.code !== 0) return undefined; // the parent is no folder of the base
  for (const line of r.stdout.toString('utf8').split('\0')) {
    const tab = line.indexOf('\t');
    if (tab < 0 || line.slice(tab + 1) !== name) continue;
    const [mode, type, oid, size] = line.slice(0, tab).split(/ +/);
    if (!mode || !type || !oid) return undefined;
    return { mode, type, oid, size: size && size !== '-' ? Number(size) : undefined };
  }
  return undefined;
}

async function blob(scope: BaseScope, oid: string): Promise<Buffer> {
  const r = await run(scope, ['cat-file', 'blob', oid]);
  if (r.code !== 0) throw new ToolError(`cannot read object ${oid}: ${r.stderr.trim() || `git exited ${r.code}`}`);
  return r.stdout;
}

export async function readBaseFile(scope: BaseScope, input: ToolInput<'read_file'>): Promise<string> {
  const rel = baseRelative(scope, input.path);
  if (rel === '') throw new ToolError(`${input.path} is a folder; use list_files`);
  if (isNeverRead(rel)) throw new ToolError(`${rel}: secret files are never read for the model`);
  const e = await entryAt(scope, rel);
  if (!e) throw new ToolError(`${rel}: no such file`);
  if (e.type === 'tree') throw new ToolError(`${rel} is a folder; use list_files`);
  if (e.mode === '120000') {
    const target = (await blob(scope, e.oid)).toString('utf8');
    throw new ToolError(`${rel} is a symlink (to ${JSON.stringify(target)}); file tools read regular files only — read its target if it is inside the repository`);
  }
  if (e.type !== 'blob' || (e.mode !== '100644' && e.mode !== '100755')) throw new ToolError(`${rel} is not a regular file (mode ${e.mode}); file tools read and write regular files only`);
  const all = await blob(scope, e.oid);
  const buf = all.subarray(0, scope.maxReadBytes);
  if (buf.includes(0)) throw new ToolError(`${rel} is a binary file`);
  const more = all.length > buf.length ? `\n[… ${all.length - buf.length} more bytes not shown]` : '';
  return fenceUntrusted(rel, buf.toString('utf8') + more);
}

/** Every path of the base: what `git ls-files --cached --others --exclude-standard` lists in its fresh checkout. */
async function baseFiles(scope: BaseScope): Promise<string[]> {
  const r = await run(scope, ['ls-tree', '-r', '-z', '--name-only', scope.base]);
  if (r.code !== 0) throw new ToolError(`list_files failed: ${r.stderr.trim() || `git exited ${r.code}`}`);
  return r.stdout.toString('utf8').split('\0').filter(Boolean);
}

export async function listBaseFiles(scope: BaseScope, input: ToolInput<'list_files'>): Promise<string> {
  return listingOf(await baseFiles(scope), input.pattern);
}

export async function grepBase(scope: BaseScope, input: ToolInput<'grep'>): Promise<string> {
  const where = input.path ? baseRelative(scope, input.path) || '.' : '.';
  // -z: each path verbatim and ended by a NUL, so a file named `a:1:b.ts` or with a newline in its name is read right.
  const r = await run(scope, ['grep', '-z', '-n', '-I', '-E', '-e', input.pattern, scope.base, '--', where]);
  if (r.code === 1) return `no match for /${input.pattern}/`;
  if (r.code !== 0) throw new ToolError(`grep failed: ${r.stderr.trim() || 'bad pattern'}`);
  // git prefixes each path with "<base>:" when it searches a commit; the worktree's grep does not.
  return grepAnswer(gitGrepMatches(r.stdout.toString('utf8'), `${scope.base}:`), input.pattern);
}
