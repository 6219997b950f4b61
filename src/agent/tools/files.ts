import fs from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import { fenceUntrusted, isNeverRead } from '../../policy/filter.js';
import { protectedReason } from '../../policy/protected-paths.js';
import { resolveInRoot } from '../../policy/validate.js';
import { git, type GitLocation } from '../../git/safe-git.js';
import type { ToolInput } from './schemas.js';
import { ToolError } from './tool-error.js';

/** Where file tools act: the task's worktree, plus read-only folders (the compression spill folder). */
export interface FileScope {
  root: string;
  /** The worktree's git location (list_files and grep need it): git is never pointed at the tree to discover its repository. */
  git?: GitLocation;
  /** How long list_files and grep may take (default 30 s). */
  gitTimeoutMs?: number;
  readOnlyRoots?: readonly string[];
  maxReadBytes: number;
}

const MAX_LISTED = 500;
const MAX_GREP_LINES = 300;

/**
 * The layers already checked this call; the tools check confinement again at the moment of use,
 * because a symlink can be swapped in between (the check and the use must see the same file).
 */
function confined(scope: FileScope, p: string, forWrite: boolean): { abs: string; rel: string } {
  if (!forWrite) {
    for (const ro of scope.readOnlyRoots ?? []) {
      if (path.isAbsolute(p) && (p === ro || p.startsWith(ro + path.sep))) {
        const r = resolveInRoot(ro, p);
        if (r.ok) return { abs: r.abs, rel: p };
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
  return r;
}

export function readFile(scope: FileScope, input: ToolInput<'read_file'>): string {
  const { abs, rel } = confined(scope, input.path, false);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw new ToolError(`${rel}: no such file`);
  }
  if (st.isDirectory()) throw new ToolError(`${rel} is a folder; use list_files`);
  const fd = fs.openSync(abs, 'r');
  try {
    const buf = Buffer.alloc(Math.min(st.size, scope.maxReadBytes));
    fs.readSync(fd, buf, 0, buf.length, 0);
    if (buf.includes(0)) throw new ToolError(`${rel} is a binary file`);
    const more = st.size > buf.length ? `\n[… ${st.size - buf.length} more bytes not shown]` : '';
    return fenceUntrusted(rel, buf.toString('utf8') + more);
  } finally {
    fs.closeSync(fd);
  }
}

/** Tracked and untracked files that git does not ignore, so node_modules and build output never flood the model. */
function gitOf(scope: FileScope): GitLocation {
  if (!scope.git) throw new ToolError('no git location for this worktree: list_files and grep are not available here');
  return scope.git;
}

/** How long list_files and grep may take: git's walk of a hostile tree can be made to wait (a planted repository whose HEAD is a FIFO). */
const GIT_TOOL_TIMEOUT_MS = 30_000;

async function repoFiles(scope: FileScope): Promise<string[]> {
  const r = await git(gitOf(scope), ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { timeoutMs: scope.gitTimeoutMs ?? GIT_TOOL_TIMEOUT_MS }).catch((e: Error) => {
    throw new ToolError(`list_files failed: ${e.message}`);
  });
  const out = r.stdout.toString('utf8');
  return [...new Set(out.split('\0').filter(Boolean))].filter((f) => fs.existsSync(path.join(scope.root, f)));
}

export async function listFiles(scope: FileScope, input: ToolInput<'list_files'>): Promise<string> {
  const match = picomatch(input.pattern, { dot: true });
  const hits = (await repoFiles(scope)).filter((f) => match(f)).sort();
  if (hits.length === 0) return `no files match ${input.pattern}`;
  const shown = hits.slice(0, MAX_LISTED).join('\n');
  return hits.length > MAX_LISTED ? `${shown}\n[… ${hits.length - MAX_LISTED} more]` : shown;
}

export async function grep(scope: FileScope, input: ToolInput<'grep'>): Promise<string> {
  const where = input.path ? confined(scope, input.path, false).rel : '.';
  const r = await git(gitOf(scope), ['grep', '--untracked', '-n', '-I', '-E', '-e', input.pattern, '--', where], { allowFail: true, timeoutMs: scope.gitTimeoutMs ?? GIT_TOOL_TIMEOUT_MS }).catch((e: Error) => {
    throw new ToolError(`grep failed: ${e.message}`);
  });
  if (r.code === 1) return `no match for /${input.pattern}/`;
  if (r.code !== 0) throw new ToolError(`grep failed: ${r.stderr.trim() || 'bad pattern'}`);
  const out = r.stdout.toString('utf8');
  const lines = out.split('\n').filter((l) => l && !isNeverRead(l.slice(0, l.indexOf(':'))));
  const shown = lines.slice(0, MAX_GREP_LINES).join('\n');
  const body = lines.length > MAX_GREP_LINES ? `${shown}\n[… ${lines.length - MAX_GREP_LINES} more lines]` : shown;
  return fenceUntrusted(`grep ${input.pattern}`, body);
}

export function writeFile(scope: FileScope, input: ToolInput<'write_file'>): string {
  const { abs, rel } = confined(scope, input.path, true);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, input.content);
  return `wrote ${rel} (${Buffer.byteLength(input.content)} bytes)`;
}

export function editFile(scope: FileScope, input: ToolInput<'edit_file'>): string {
  const { abs, rel } = confined(scope, input.path, true);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch {
    throw new ToolError(`${rel}: no such file (use write_file to create it)`);
  }
  const first = text.indexOf(input.old);
  if (first < 0) throw new ToolError(`${rel}: the text to replace was not found; read the file again and copy it exactly`);
  if (text.indexOf(input.old, first + 1) >= 0) throw new ToolError(`${rel}: the text to replace occurs more than once; include more context to make it unique`);
  fs.writeFileSync(abs, text.slice(0, first) + input.new + text.slice(first + input.old.length));
  return `edited ${rel}`;
}
