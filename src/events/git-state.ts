import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { GitDirs } from './git-dir.js';
import { errnoCode, isAbsent, KairosError, messageOf } from '../core/errors.js';

/**
 * A snapshot of the parts of `.git` that semantic events are derived from, read by parsing files
 * directly: spawning `git` per change would cost tens of milliseconds and take locks the user's
 * own git commands then wait on.
 */

const Sha = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/);

/** One line of logs/HEAD. `offset` is the byte offset of the line, so new lines are found exactly. */
export const ReflogEntry = z.object({
  offset: z.number().int().nonnegative(),
  old: Sha,
  new: Sha,
  /** Unix seconds, as git wrote it. */
  time: z.number().int(),
  message: z.string(),
});
export type ReflogEntry = z.infer<typeof ReflogEntry>;

export const GitState = z.object({
  head: z.object({
    /** The symbolic ref HEAD points at (`refs/heads/main`); null when detached. */
    ref: z.string().nullable(),
    /** What HEAD resolves to; null on an unborn branch (before the first commit). */
    sha: Sha.nullable(),
  }),
  /** Local branches by short name (`feature/x`) → sha, loose refs over packed-refs. */
  branches: z.record(z.string(), Sha),
  /** Remote-tracking refs by short name (`origin/main`) → sha; symbolic ones (origin/HEAD) left out. */
  remotes: z.record(z.string(), Sha),
  stash: z.object({ sha: Sha.nullable(), count: z.number().int().nonnegative() }),
  origHead: Sha.nullable(),
  fetchHead: z.object({ mtimeMs: z.number(), hash: z.string() }).nullable(),
  reflog: z.object({
    /** Byte offset just past the last complete line read. */
    size: z.number().int().nonnegative(),
    /** The lines read this time, oldest first: a recent tail plus everything since the previous read. */
    entries: z.array(ReflogEntry),
  }),
  /** Details of a rebase under way (from rebase-merge/ or rebase-apply/). */
  rebase: z
    .object({
      backend: z.enum(['merge', 'apply']),
      /** The branch being rebased (`refs/heads/topic`), null for a detached rebase. */
      headName: z.string().nullable(),
      onto: Sha.nullable(),
    })
    .nullable(),
  markers: z.object({
    indexLock: z.boolean(),
    rebaseMerge: z.boolean(),
    rebaseApply: z.boolean(),
    mergeHead: z.boolean(),
    cherryPickHead: z.boolean(),
    revertHead: z.boolean(),
    bisectLog: z.boolean(),
  }),
});
export type GitState = z.infer<typeof GitState>;

export class GitStateError extends KairosError {
  override name = 'GitStateError';
}

export interface ReadGitStateOptions {
  /**
   * The state read last time: the reflog is then read from that read's last line on, so no line
   * written in between (e.g. while the daemon was down) is skipped, up to MAX_REFLOG_READ: past
   * that, or when the reflog was rewritten (expired, truncated), only its newest part is read.
   */
  since?: GitState | null;
  /** Bytes of reflog tail always read, for context (finding where a rebase started). Default 16 KiB. */
  tailBytes?: number;
}

/** Never read more reflog than this in one go: a reflog is append-only text, 8 MiB is ~40k lines. */
const MAX_REFLOG_READ = 8 * 1024 * 1024;

export function readGitState(dirs: GitDirs, opts: ReadGitStateOptions = {}): GitState {
  const { gitDir, commonDir } = dirs;
  let headText: string;
  try {
    headText = fs.readFileSync(path.join(gitDir, 'HEAD'), 'utf8');
  } catch (e) {
    const why = isAbsent(e) ? 'the repository was removed or is damaged' : `${errnoCode(e) ?? messageOf(e)}; check its permissions`;
    throw new GitStateError(`${gitDir}/HEAD: cannot be read; ${why}`, { cause: e });
  }
  const packed = readPackedRefs(path.join(commonDir, 'packed-refs'));
  const resolve = (ref: string): string | null => resolveRef(dirs, packed, ref, 0);

  const headLine = headText.trim();
  const symbolic = /^ref:\s*(\S+)$/.exec(headLine);
  const head = symbolic?.[1]
    ? { ref: symbolic[1], sha: resolve(symbolic[1]) }
    : { ref: null, sha: asSha(headLine) };

  const branches = collectRefs(commonDir, 'refs/heads/', packed);
  const remotes = collectRefs(commonDir, 'refs/remotes/', packed);
  const stashLog = readText(path.join(commonDir, 'logs', 'refs', 'stash'));
  const stashSha = resolve('refs/stash');
  const stash = {
    sha: stashSha,
    count: stashSha === null ? 0 : stashLog === null ? 1 : stashLog.split('\n').filter((l) => l.trim() !== '').length,
  };

  const fetchHeadPath = path.join(gitDir, 'FETCH_HEAD');
  let fetchHead: GitState['fetchHead'] = null;
  try {
    const buf = fs.readFileSync(fetchHeadPath);
    const st = fs.statSync(fetchHeadPath);
    fetchHead = { mtimeMs: st.mtimeMs, hash: createHash('sha1').update(buf).digest('hex') };
  } catch (e) {
    if (!isAbsent(e)) throw unreadable(fetchHeadPath, e);
    fetchHead = null; // never fetched
  }

  const sinceLast = opts.since?.reflog.entries.at(-1);
  const reflog = readReflog(path.join(gitDir, 'logs', 'HEAD'), sinceLast?.offset ?? opts.since?.reflog.size ?? null, opts.tailBytes ?? 16 * 1024);

  const markers = {
    indexLock: exists(path.join(gitDir, 'index.lock')),
    rebaseMerge: isDir(path.join(gitDir, 'rebase-merge')),
    rebaseApply: isDir(path.join(gitDir, 'rebase-apply')),
    mergeHead: exists(path.join(gitDir, 'MERGE_HEAD')),
    cherryPickHead: exists(path.join(gitDir, 'CHERRY_PICK_HEAD')),
    revertHead: exists(path.join(gitDir, 'REVERT_HEAD')),
    bisectLog: exists(path.join(gitDir, 'BISECT_LOG')),
  };
  let rebase: GitState['rebase'] = null;
  // rebase-apply/ is also `git am`'s folder; only a rebase writes head-name there.
  const rebaseDir = markers.rebaseMerge ? 'rebase-merge' : markers.rebaseApply ? 'rebase-apply' : null;
  if (rebaseDir) {
    const headName = readText(path.join(gitDir, rebaseDir, 'head-name'))?.trim() ?? null;
    rebase = {
      backend: rebaseDir === 'rebase-merge' ? 'merge' : 'apply',
      headName: headName && headName.startsWith('refs/') ? headName : null,
      onto: asSha(readText(path.join(gitDir, rebaseDir, 'onto'))?.trim() ?? ''),
    };
  }

  return {
    head,
    branches,
    remotes,
    stash,
    origHead: asSha(readText(path.join(gitDir, 'ORIG_HEAD'))?.trim() ?? ''),
    fetchHead,
    reflog,
    rebase,
    markers,
  };
}

/** The short branch name HEAD is on (`main`), or null when detached or on a non-branch ref. */
export function headBranch(state: GitState): string | null {
  const ref = state.head.ref;
  return ref?.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null;
}

const SNAPSHOT_VERSION = 1;

/**
 * A compact JSON form of the state for the daemon to store, so on the next start it can report
 * what changed while it was down. Only the last reflog line is kept: it anchors where to read on from.
 */
export function serializeGitState(state: GitState): string {
  const last = state.reflog.entries.at(-1);
  return JSON.stringify({
    version: SNAPSHOT_VERSION,
    state: { ...state, reflog: { size: state.reflog.size, entries: last ? [last] : [] } },
  });
}

/** Parses what serializeGitState wrote; throws GitStateError when it is not a snapshot this version can read. */
export function parseGitState(json: string): GitState {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new GitStateError(`stored git state is not JSON (${messageOf(err)}); it will be replaced on the next change`, { cause: err });
  }
  const v = z.object({ version: z.literal(SNAPSHOT_VERSION), state: GitState }).safeParse(raw);
  if (!v.success) {
    throw new GitStateError(
      `stored git state does not match snapshot version ${SNAPSHOT_VERSION}: ${v.error.issues[0]?.message ?? 'invalid'}; it will be replaced on the next change`,
    );
  }
  return v.data.state;
}

// ---- reading refs ----

interface PackedRefs {
  refs: Map<string, string>;
}

const packedCache = new Map<string, { key: string; value: PackedRefs }>();

/** packed-refs can hold tens of thousands of tags; it is parsed again only when the file was replaced. */
function readPackedRefs(file: string): PackedRefs {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if (!isAbsent(e)) throw unreadable(file, e);
    packedCache.delete(file);
    return { refs: new Map() };
  }
  const key = `${st.ino}:${st.size}:${st.mtimeMs}`;
  const cached = packedCache.get(file);
  if (cached?.key === key) return cached.value;
  const refs = new Map<string, string>();
  const text = readText(file) ?? '';
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('^')) continue;
    const sp = line.indexOf(' ');
    if (sp < 0) continue;
    const name = line.slice(sp + 1).trim();
    // Tags and notes are never needed: skipping them keeps the map small.
    if (!name.startsWith('refs/heads/') && !name.startsWith('refs/remotes/') && name !== 'refs/stash') continue;
    const sha = asSha(line.slice(0, sp));
    if (sha) refs.set(name, sha);
  }
  const value = { refs };
  packedCache.set(file, { key, value });
  return value;
}

/** Per-worktree refs (refs/bisect, refs/worktree, refs/rewritten) live in gitDir; all others in commonDir. */
function refFile(dirs: GitDirs, ref: string): string {
  const perWorktree = /^refs\/(bisect|worktree|rewritten)\//.test(ref) || !ref.startsWith('refs/');
  return path.join(perWorktree ? dirs.gitDir : dirs.commonDir, ...ref.split('/'));
}

function resolveRef(dirs: GitDirs, packed: PackedRefs, ref: string, depth: number): string | null {
  if (depth > 5) return null;
  const text = readText(refFile(dirs, ref));
  if (text !== null) {
    const line = text.trim();
    const sym = /^ref:\s*(\S+)$/.exec(line);
    if (sym?.[1]) return resolveRef(dirs, packed, sym[1], depth + 1);
    return asSha(line);
  }
  return packed.refs.get(ref) ?? null;
}

function collectRefs(commonDir: string, prefix: 'refs/heads/' | 'refs/remotes/', packed: PackedRefs): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, sha] of packed.refs) if (name.startsWith(prefix)) out[name.slice(prefix.length)] = sha;
  const walk = (absDir: string, rel: string): void => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(absDir, { withFileTypes: true });
    } catch (e) {
      // No such folder: no refs there. An unreadable one must not read as "every branch deleted".
      if (!isAbsent(e)) throw unreadable(absDir, e);
      return;
    }
    for (const d of names) {
      const childRel = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) {
        walk(path.join(absDir, d.name), childRel);
      } else if (d.isFile() && !d.name.endsWith('.lock')) {
        // A file can vanish between readdir and read (git deleting a branch): it is then gone, not broken.
        const text = readText(path.join(absDir, d.name));
        if (text === null) continue;
        const sha = asSha(text.trim());
        if (sha) out[childRel] = sha;
        else if (text.startsWith('ref:')) delete out[childRel];
      }
    }
  };
  walk(path.join(commonDir, ...prefix.split('/').filter(Boolean)), '');
  // readdir order is the filesystem's; sorted, events about several refs come out in a stable order.
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// ---- reading the reflog ----

/**
 * Reads logs/HEAD from `fromOffset` (a line start) or from `tailBytes` before the end, whichever is
 * earlier, so the result holds every line since the last read plus some context before it.
 */
function readReflog(file: string, fromOffset: number | null, tailBytes: number): GitState['reflog'] {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if (!isAbsent(e)) throw unreadable(file, e);
    return { size: 0, entries: [] }; // no reflog (yet, or core.logAllRefUpdates is off)
  }
  try {
    const size = fs.fstatSync(fd).size;
    let start = Math.max(0, size - tailBytes);
    if (fromOffset !== null && fromOffset <= size) start = Math.min(start, fromOffset);
    start = Math.max(start, size - MAX_REFLOG_READ);
    // Read one byte early: if it is a newline, `start` is a line start and the first line is whole.
    const readFrom = Math.max(0, start - 1);
    const buf = Buffer.alloc(size - readFrom);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, readFrom + got);
      if (n === 0) break;
      got += n;
    }
    let pos = 0;
    if (readFrom > 0) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0 || nl >= got) return { size: readFrom, entries: [] };
      pos = nl + 1;
    }
    const entries: ReflogEntry[] = [];
    let end = readFrom + pos;
    while (pos < got) {
      const nl = buf.indexOf(0x0a, pos);
      // A line without its newline is still being written: leave it for the next read.
      if (nl < 0 || nl >= got) break;
      const entry = parseReflogLine(buf.toString('utf8', pos, nl), readFrom + pos);
      if (entry) entries.push(entry);
      pos = nl + 1;
      end = readFrom + pos;
    }
    return { size: end, entries };
  } finally {
    fs.closeSync(fd);
  }
}

function parseReflogLine(line: string, offset: number): ReflogEntry | null {
  const tab = line.indexOf('\t');
  const header = tab < 0 ? line : line.slice(0, tab);
  const message = tab < 0 ? '' : line.slice(tab + 1);
  const parts = header.split(' ');
  const old = asSha(parts[0] ?? '');
  const next = asSha(parts[1] ?? '');
  const time = Number(parts[parts.length - 2]);
  if (!old || !next || !Number.isFinite(time)) return null;
  return { offset, old, new: next, time, message };
}

// ---- small file helpers ----

function asSha(s: string): string | null {
  return /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(s) ? s : null;
}

/** A file that is not there is null; one that is there but cannot be read (EACCES, EISDIR, ELOOP) throws. */
function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (isAbsent(e)) return null;
    throw unreadable(file, e);
  }
}

function unreadable(file: string, e: unknown): GitStateError {
  return new GitStateError(`${file}: cannot be read (${errnoCode(e) ?? messageOf(e)}); check its type and permissions`, { cause: e });
}

function exists(file: string): boolean {
  return fs.existsSync(file);
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch (e) {
    if (isAbsent(e)) return false;
    throw unreadable(p, e);
  }
}
