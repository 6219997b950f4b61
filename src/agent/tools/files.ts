import fs from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import { fenceUntrusted, isNeverRead } from '../../policy/filter.js';
import { protectedReason } from '../../policy/protected-paths.js';
import { resolveInRoot } from '../../policy/validate.js';
import { git as safeGit } from '../../git/safe-git.js';
import type { ToolInput } from './schemas.js';
import { ToolError } from './tool-error.js';
import { gitGrepMatches, shownPath, type GrepMatch } from './grep-output.js';
import { messageOf, errnoCode } from '../../core/errors.js';

/** Where file tools act: the task's worktree, plus read-only folders (the compression spill folder). */
export interface FileScope {
  root: string;
  readOnlyRoots?: readonly string[];
  maxReadBytes: number;
  /**
   * The worktree's git dir, as the daemon made it (TaskWorktree.gitDir, or worktreeGitDir right
   * after). list_files and grep name it explicitly, through the daemon's git runner, so a `.git`
   * file a command planted later cannot point git at another repository's files or config; without
   * it they refuse.
   */
  gitDir?: string;
  /** How long list_files and grep may take (default 60 s): git's walk of a hostile tree can be made to wait. */
  gitTimeoutMs?: number;
}

const MAX_LISTED = 500;
const MAX_GREP_LINES = 300;
/** edit_file reads the whole file: beyond this, write_file is the way. */
const MAX_EDIT_BYTES = 8 * 1024 * 1024;
const GIT_TIMEOUT_MS = 60_000;

/**
 * The layers already checked this call; the tools check confinement again at the moment of use,
 * because a symlink can be swapped in between (the check and the use must see the same file).
 */
function confined(scope: FileScope, p: string, forWrite: boolean): { abs: string; rel: string; root: string } {
  if (!forWrite) {
    for (const ro of scope.readOnlyRoots ?? []) {
      if (path.isAbsolute(p) && (p === ro || p.startsWith(ro + path.sep))) {
        const r = resolveInRoot(ro, p);
        if (r.ok) return { abs: r.abs, rel: p, root: ro };
      }
    }
  }
  const r = resolveInRoot(scope.root, p);
  if (!r.ok) throw new ToolError(`${p}: ${r.reason}`);
  if (!forWrite && isNeverRead(r.rel)) throw new ToolError(`${r.rel}: secret files are never read for the model`);
  if (forWrite) {
    const why = protectedReason(r.rel);
    if (why) throw new ToolError(why);
  }
  return { ...r, root: scope.root };
}

function describeKind(st: fs.Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSymbolicLink()) return 'a symlink';
  return 'not a regular file';
}

const NOT_REGULAR = 'file tools read and write regular files only';

/**
 * Opens a file the agent named, without ever blocking: O_NONBLOCK makes opening a FIFO return at
 * once (and a FIFO with no reader refuse a write open), O_NOFOLLOW refuses a symlink swapped in
 * after the path was resolved, and the open descriptor is then checked — a regular file, still
 * inside the root — so the check and the use are about the same file.
 */
async function openRegular(where: { abs: string; rel: string; root: string }, flags: number, missingHint = ''): Promise<{ fh: fs.promises.FileHandle; st: fs.Stats }> {
  const { O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(where.abs, flags | O_NOFOLLOW | O_NONBLOCK, 0o644);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT') throw new ToolError(`${where.rel}: no such file${missingHint}`, { cause: e });
    if (code === 'EISDIR') throw new ToolError(`${where.rel} is a folder; use list_files`, { cause: e });
    if (code === 'ELOOP') throw new ToolError(`${where.rel} became a symlink while it was being opened; refused`, { cause: e });
    if (code === 'ENXIO' || code === 'EOPNOTSUPP') {
      const st = await fs.promises.lstat(where.abs).catch(() => undefined);
      throw new ToolError(`${where.rel} is ${st ? describeKind(st) : 'not a regular file'}; ${NOT_REGULAR}`);
    }
    throw new ToolError(`${where.rel}: cannot open (${code ?? messageOf(e)})`);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new ToolError(`${where.rel} is a folder; use list_files`);
    if (!st.isFile()) throw new ToolError(`${where.rel} is ${describeKind(st)}; ${NOT_REGULAR}`);
    if (process.platform === 'linux') {
      // What was really opened, whatever happened to the path since it was resolved.
      const real = await fs.promises.readlink(`/proc/self/fd/${fh.fd}`).catch(() => undefined);
      const root = await fs.promises.realpath(where.root);
      if (real !== undefined && real !== root && !real.startsWith(root + path.sep)) throw new ToolError(`${where.rel} resolves outside the repository (to ${real}); refused`);
    }
    return { fh, st };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

async function readAll(fh: fs.promises.FileHandle, size: number): Promise<Buffer> {
  const buf = Buffer.alloc(size);
  let got = 0;
  while (got < size) {
    const { bytesRead } = await fh.read(buf, got, size - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

export async function readFile(scope: FileScope, input: ToolInput<'read_file'>): Promise<string> {
  const where = confined(scope, input.path, false);
  const { fh, st } = await openRegular(where, fs.constants.O_RDONLY);
  try {
    const buf = await readAll(fh, Math.min(st.size, scope.maxReadBytes));
    if (buf.includes(0)) throw new ToolError(`${where.rel} is a binary file`);
    const more = st.size > buf.length ? `\n[… ${st.size - buf.length} more bytes not shown]` : '';
    return fenceUntrusted(where.rel, buf.toString('utf8') + more);
  } finally {
    await fh.close();
  }
}

/**
 * The git dir a worktree's `.git` file names ("gitdir: <dir>"), or the `.git` folder itself. Call it
 * right after the daemon made the worktree, before anything sandboxed has run there.
 */
export function worktreeGitDir(root: string): string | undefined {
  const dotGit = path.join(root, '.git');
  try {
    const st = fs.lstatSync(dotGit);
    if (st.isDirectory()) return dotGit;
    if (!st.isFile() || st.size > 4096) return undefined;
    const m = /^gitdir:\s*(.+?)\s*$/m.exec(fs.readFileSync(dotGit, 'utf8'));
    return m?.[1] ? path.resolve(root, m[1]) : undefined;
  } catch {
    // No readable .git: no git folder to protect under this name; the tool's own path checks still apply.
    return undefined;
  }
}

/**
 * git in the worktree through the daemon's runner (src/git/safe-git.ts): its git dir named, no
 * planted config, hook, fsmonitor or driver runs; off the main thread; bounded in time (a planted
 * repository whose HEAD is a FIFO makes git's directory walk wait forever).
 */
async function git(scope: FileScope, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  if (!scope.gitDir) throw new ToolError('this worktree has no git dir the daemon made; list_files and grep are not available here');
  const loc = { gitDir: scope.gitDir, workTree: scope.root };
  try {
    const r = await safeGit(loc, args, { allowFail: true, timeoutMs: scope.gitTimeoutMs ?? GIT_TIMEOUT_MS });
    return { code: r.code ?? -1, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
  } catch (e) {
    return { code: -1, stdout: '', stderr: messageOf(e) };
  }
}

/** Tracked and untracked files that git does not ignore, so node_modules and build output never flood the model. */
async function repoFiles(scope: FileScope): Promise<string[]> {
  const [all, deleted] = await Promise.all([git(scope, ['ls-files', '-z', '--cached', '--others', '--exclude-standard']), git(scope, ['ls-files', '-z', '--deleted'])]);
  if (all.code !== 0) throw new ToolError(`list_files failed: ${all.stderr.trim() || `git exited ${all.code}`}`);
  const gone = new Set(deleted.stdout.split('\0'));
  return [...new Set(all.stdout.split('\0').filter((f) => f && !gone.has(f)))];
}

export async function listFiles(scope: FileScope, input: ToolInput<'list_files'>): Promise<string> {
  return listingOf(await repoFiles(scope), input.pattern);
}

/** list_files's answer from every path of a tree (the worktree's, or the base commit's before it exists). */
export function listingOf(files: readonly string[], pattern: string): string {
  const match = picomatch(pattern, { dot: true });
  const hits = files.filter((f) => match(f)).sort();
  if (hits.length === 0) return `no files match ${pattern}`;
  const shown = hits.slice(0, MAX_LISTED).join('\n');
  return hits.length > MAX_LISTED ? `${shown}\n[… ${hits.length - MAX_LISTED} more]` : shown;
}

export async function grep(scope: FileScope, input: ToolInput<'grep'>): Promise<string> {
  const where = input.path ? confined(scope, input.path, false).rel : '.';
  const r = await git(scope, ['grep', '--untracked', '-z', '-n', '-I', '-E', '-e', input.pattern, '--', where]);
  if (r.code === 1) return `no match for /${input.pattern}/`;
  if (r.code !== 0) throw new ToolError(`grep failed: ${r.stderr.trim() || 'bad pattern'}`);
  return grepAnswer(gitGrepMatches(r.stdout), input.pattern);
}

/** grep's answer from git grep's matches, as `path:line:text` lines: secret files' lines dropped, capped, fenced. */
export function grepAnswer(matches: readonly GrepMatch[], pattern: string): string {
  const lines = matches.filter((m) => !isNeverRead(m.path)).map((m) => `${shownPath(m.path)}:${m.line}:${m.text}`);
  const shown = lines.slice(0, MAX_GREP_LINES).join('\n');
  const body = lines.length > MAX_GREP_LINES ? `${shown}\n[… ${lines.length - MAX_GREP_LINES} more lines]` : shown;
  return fenceUntrusted(`grep ${pattern}`, body);
}

async function replaceContent(fh: fs.promises.FileHandle, content: string): Promise<void> {
  await fh.truncate(0);
  await fh.write(content, 0, 'utf8');
}

export async function writeFile(scope: FileScope, input: ToolInput<'write_file'>): Promise<string> {
  const where = confined(scope, input.path, true);
  await fs.promises.mkdir(path.dirname(where.abs), { recursive: true });
  // No O_TRUNC: a non-regular file must be refused before anything is done to it.
  const { fh } = await openRegular(where, fs.constants.O_WRONLY | fs.constants.O_CREAT);
  try {
    await replaceContent(fh, input.content);
  } finally {
    await fh.close();
  }
  return `wrote ${where.rel} (${Buffer.byteLength(input.content)} bytes)`;
}

export async function editFile(scope: FileScope, input: ToolInput<'edit_file'>): Promise<string> {
  const where = confined(scope, input.path, true);
  const { fh, st } = await openRegular(where, fs.constants.O_RDWR, ' (use write_file to create it)');
  try {
    if (st.size > MAX_EDIT_BYTES) throw new ToolError(`${where.rel} is ${st.size} bytes, too large to edit in place; use write_file`);
    const text = (await readAll(fh, st.size)).toString('utf8');
    const first = text.indexOf(input.old);
    if (first < 0) throw new ToolError(`${where.rel}: the text to replace was not found; read the file again and copy it exactly`);
    if (text.indexOf(input.old, first + 1) >= 0) throw new ToolError(`${where.rel}: the text to replace occurs more than once; include more context to make it unique`);
    await replaceContent(fh, text.slice(0, first) + input.new + text.slice(first + input.old.length));
  } finally {
    await fh.close();
  }
  return `edited ${where.rel}`;
}
