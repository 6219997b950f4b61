import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { git, gitText, type GitLocation } from '../../git/safe-git.js';
import { attributesProblem, isDotGitName, pathProblem, symlinkProblem } from './content-rules.js';

/**
 * The state of a worktree the agent (or a command it ran) has touched, as a git index — built
 * without `git add`, which would follow a planted `.git`, add nested repositories as gitlinks and
 * run whatever clean filter a planted `.gitattributes` selects.
 *
 * Instead: a scratch index starts as the base tree; the daemon walks the tree itself (lstat, never
 * following a link, never opening anything but a regular file), skipping what git ignores; regular
 * files are hashed by `git hash-object --stdin-paths` (built-in conversions only: every driver is
 * neutralised, see driver-config.ts), symlinks by their target bytes; and the changed entries go in
 * with `update-index --index-info`. What is not a regular file or a symlink (FIFOs, sockets,
 * devices), `.git` entries and nested repositories never enter the index, and each is reported as
 * a problem, as is every changed path the content rules (content-rules.ts) refuse.
 */

export interface ContentProblem {
  path: string;
  why: string;
}

export interface WorktreeIndex {
  /** The scratch index: base plus every change found on disk that may be an index entry. */
  env: { GIT_INDEX_FILE: string };
  /** Paths whose entry differs from the base (added, changed, deleted), sorted. */
  changed: string[];
  /** Why this tree may not be proposed; empty when it may. */
  problems: ContentProblem[];
  dispose(): void;
}

export interface IndexWorktreeOptions {
  /** The admin folder the worktree's own `.git` file must still point at (a replaced or rewritten one is a problem). */
  expectedAdminDir?: string;
  /** Stop walking after this many entries (default 500,000): a tree that large is not a proposal. */
  maxEntries?: number;
}

interface BaseEntry {
  mode: string;
  blob: string;
}

interface DiskEntry {
  rel: string;
  kind: 'file' | 'symlink';
  mode: string;
}

const ZERO = '0'.repeat(40);

export async function indexWorktree(loc: GitLocation & { workTree: string }, base: string, opts: IndexWorktreeOptions = {}): Promise<WorktreeIndex> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-index-'));
  const env = { GIT_INDEX_FILE: path.join(scratch, 'index') };
  const dispose = (): void => fs.rmSync(scratch, { recursive: true, force: true });
  try {
    await git(loc, ['read-tree', base], { env });
    const baseEntries = await readIndex(loc, env);
    const ignored = await ignoredPaths(loc, env);
    const problems: ContentProblem[] = [];
    const root = loc.workTree;

    if (opts.expectedAdminDir !== undefined) {
      const why = gitFileProblem(root, opts.expectedAdminDir);
      if (why) problems.push({ path: '.git', why });
    }

    const walked = walkTree(root, baseEntries, ignored, opts.maxEntries ?? 500_000);
    problems.push(...walked.problems);
    // Git skips what is not a regular file or a link; an ignored one is not ours to report.
    if (walked.specials.length) {
      const ign = await checkIgnored(loc, env, walked.specials.map((s) => s.path));
      problems.push(...walked.specials.filter((s) => !ign.has(s.path)));
    }

    // Only what may differ from the base is hashed: untracked files, and what git's stat cache says changed.
    const hint = await changedSinceCheckout(loc, base);
    const toHash = walked.entries.filter((e) => !baseEntries.has(e.rel) || !hint || hint.has(e.rel));
    const hashed = await hashEntries(loc, scratch, toHash);
    const blobOf = new Map(toHash.map((e, i) => [e.rel, hashed[i]!]));
    const lines: string[] = [];
    const changed: string[] = [];
    const present = new Set<string>();
    for (const e of walked.entries) {
      present.add(e.rel);
      const was = baseEntries.get(e.rel);
      const blob = blobOf.get(e.rel) ?? was!.blob;
      if (was && was.mode === e.mode && was.blob === blob) continue;
      changed.push(e.rel);
      lines.push(`${e.mode} ${blob}\t${e.rel}\0`);
    }
    const deletions: string[] = [];
    for (const [rel, was] of baseEntries) {
      if (was.mode === '160000' || present.has(rel)) continue;
      changed.push(rel);
      deletions.push(`0 ${ZERO}\t${rel}\0`);
    }
    // Deletions first, so a file that became a folder can take its new entries.
    if (lines.length || deletions.length) await git(loc, ['update-index', '-z', '--index-info'], { input: [...deletions, ...lines].join(''), env });
    changed.sort();

    problems.push(...(await contentProblems(loc, root, changed, walked.entries, baseEntries)));
    return { env, changed, problems, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

/**
 * Paths that may differ from `base` on disk, from the worktree's own index (written by the
 * checkout, with every file's stat data; in the repository's git folder, which no sandboxed command
 * can write): `diff-files` lists what changed on disk since (by stat, re-reading only racy entries,
 * through the same driver-less conversions), `diff-index --cached` what the index holds beyond the
 * base (a commit made in the worktree). Undefined when there is no such index: then everything is hashed.
 */
async function changedSinceCheckout(loc: GitLocation, base: string): Promise<Set<string> | undefined> {
  if (!fs.existsSync(path.join(loc.gitDir, 'index'))) return undefined;
  const files = await git(loc, ['diff-files', '--name-only', '-z', '--ignore-submodules=all'], { allowFail: true });
  const cached = await git(loc, ['diff-index', '--cached', '--name-only', '-z', '--no-renames', '--ignore-submodules=all', base, '--'], { allowFail: true });
  if (files.code !== 0 || cached.code !== 0) return undefined;
  return new Set([...files.stdout.toString('utf8').split('\0'), ...cached.stdout.toString('utf8').split('\0')].filter(Boolean));
}

async function readIndex(loc: GitLocation, env: Record<string, string>): Promise<Map<string, BaseEntry>> {
  const out = new Map<string, BaseEntry>();
  const text = await gitText(loc, ['ls-files', '-s', '-z'], { env });
  for (const rec of text.split('\0')) {
    const m = /^(\d{6}) ([0-9a-f]+) \d\t(.*)$/s.exec(rec);
    if (m) out.set(m[3]!, { mode: m[1]!, blob: m[2]! });
  }
  return out;
}

interface Ignored {
  files: Set<string>;
  /** Ignored folders, with a trailing slash. */
  dirs: Set<string>;
}

async function ignoredPaths(loc: GitLocation, env: Record<string, string>): Promise<Ignored> {
  const text = await gitText(loc, ['ls-files', '-z', '--others', '--ignored', '--exclude-standard', '--directory'], { env });
  const files = new Set<string>();
  const dirs = new Set<string>();
  for (const p of text.split('\0')) {
    if (!p) continue;
    if (p.endsWith('/')) dirs.add(p);
    else files.add(p);
  }
  return { files, dirs };
}

async function checkIgnored(loc: GitLocation, env: Record<string, string>, paths: string[]): Promise<Set<string>> {
  const r = await git(loc, ['check-ignore', '-z', '--stdin'], { env, input: paths.map((p) => `${p}\0`).join(''), allowFail: true });
  return new Set(r.stdout.toString('utf8').split('\0').filter(Boolean));
}

function gitFileProblem(root: string, adminDir: string): string | undefined {
  const file = path.join(root, '.git');
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return "the worktree's own .git file was removed";
  }
  if (!st.isFile()) return "the worktree's own .git file was replaced by a folder or a link (a planted repository)";
  if (st.size > 4096) return "the worktree's own .git file was rewritten";
  const m = /^gitdir: (.+)$/.exec(fs.readFileSync(file, 'utf8').trim());
  const real = (p: string): string => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  if (!m || real(path.resolve(root, m[1]!)) !== real(adminDir)) return "the worktree's own .git file was rewritten to point at another repository";
  return undefined;
}

interface Walked {
  entries: DiskEntry[];
  problems: ContentProblem[];
  specials: ContentProblem[];
}

function walkTree(root: string, base: Map<string, BaseEntry>, ignored: Ignored, maxEntries: number): Walked {
  const out: Walked = { entries: [], problems: [], specials: [] };
  const submodules = new Set([...base].filter(([, e]) => e.mode === '160000').map(([p]) => p));
  let seen = 0;
  const walk = (relDir: string): void => {
    const absDir = relDir ? path.join(root, relDir) : root;
    let names: string[];
    try {
      names = fs.readdirSync(absDir);
    } catch (e) {
      out.problems.push({ path: relDir || '.', why: `'${relDir || '.'}' cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})` });
      return;
    }
    for (const name of names.sort()) {
      if (++seen > maxEntries) throw new TreeTooLargeError(`the worktree holds more than ${maxEntries} files and folders; a proposal that large is not reviewable`);
      const rel = relDir ? `${relDir}/${name}` : name;
      if (!relDir && name === '.git') continue; // the worktree's own link to its repository, checked on its own
      let st: fs.Stats;
      try {
        st = fs.lstatSync(path.join(root, rel));
      } catch {
        continue; // gone while we looked
      }
      const tracked = base.has(rel);
      if (!tracked && (ignored.files.has(rel) || (st.isDirectory() && ignored.dirs.has(`${rel}/`)))) continue;
      if (isDotGitName(name)) {
        out.problems.push({ path: rel, why: `'${rel}' is a .git ${st.isDirectory() ? 'folder' : 'entry'}: a nested or planted repository` });
        continue;
      }
      if (st.isDirectory()) {
        if (!submodules.has(rel)) walk(rel);
      } else if (st.isFile()) {
        out.entries.push({ rel, kind: 'file', mode: st.mode & 0o100 ? '100755' : '100644' });
      } else if (st.isSymbolicLink()) {
        out.entries.push({ rel, kind: 'symlink', mode: '120000' });
      } else {
        out.specials.push({ path: rel, why: `'${rel}' is ${specialKind(st)}, not a regular file` });
      }
    }
  };
  walk('');
  return out;
}

export class TreeTooLargeError extends Error {
  override name = 'TreeTooLargeError';
}

function specialKind(st: fs.Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'a special file';
}

/** A path as one line of `--stdin-paths`: C-quoted when it holds what a line cannot. */
function stdinPath(p: string): string {
  if (!/["\\\n\r]/.test(p)) return p;
  const body = [...Buffer.from(p, 'utf8')]
    .map((b) => (b === 0x22 ? '\\"' : b === 0x5c ? '\\\\' : b < 0x20 || b >= 0x7f ? `\\${b.toString(8).padStart(3, '0')}` : String.fromCharCode(b)))
    .join('');
  return `"${body}"`;
}

/** Blob ids in entry order: files through git's own conversions (no drivers), links by their target bytes. */
async function hashEntries(loc: GitLocation, scratch: string, entries: readonly DiskEntry[]): Promise<string[]> {
  const out: string[] = new Array<string>(entries.length);
  const files = entries.map((e, i) => ({ e, i })).filter((x) => x.e.kind === 'file');
  if (files.length) {
    const ids = (await gitText(loc, ['hash-object', '-w', '--stdin-paths'], { input: files.map((f) => `${stdinPath(f.e.rel)}\n`).join('') })).split('\n');
    files.forEach((f, k) => (out[f.i] = ids[k]!));
  }
  const links = entries.map((e, i) => ({ e, i })).filter((x) => x.e.kind === 'symlink');
  if (links.length) {
    const dir = path.join(scratch, 'links');
    fs.mkdirSync(dir);
    const tmp = links.map((l, k) => {
      const p = path.join(dir, String(k));
      fs.writeFileSync(p, fs.readlinkSync(path.join(loc.workTree!, l.e.rel), { encoding: 'buffer' }));
      return p;
    });
    const ids = (await gitText(loc, ['hash-object', '-w', '--no-filters', '--stdin-paths'], { input: tmp.map((p) => `${p}\n`).join('') })).split('\n');
    links.forEach((l, k) => (out[l.i] = ids[k]!));
  }
  for (const [i, id] of out.entries()) if (!/^[0-9a-f]{40,64}$/.test(id ?? '')) throw new Error(`git hash-object gave no id for ${entries[i]!.rel}`);
  return out;
}

const MAX_ATTRIBUTES_BYTES = 1024 * 1024;

async function contentProblems(loc: GitLocation, root: string, changed: readonly string[], entries: readonly DiskEntry[], base: Map<string, BaseEntry>): Promise<ContentProblem[]> {
  const kinds = new Map(entries.map((e) => [e.rel, e.kind]));
  const out: ContentProblem[] = [];
  for (const rel of changed) {
    const named = pathProblem(rel);
    if (named) {
      out.push({ path: rel, why: named });
      continue;
    }
    const kind = kinds.get(rel);
    if (kind === 'symlink') {
      const why = symlinkProblem(root, rel, fs.readlinkSync(path.join(root, rel), 'utf8'));
      if (why) out.push({ path: rel, why });
      if (isMetaFile(rel)) out.push({ path: rel, why: `'${rel}' is a symlink; git metadata files must be regular files` });
    } else if (kind === 'file' && path.posix.basename(rel).toLowerCase() === '.gitattributes') {
      const abs = path.join(root, rel);
      if (fs.statSync(abs).size > MAX_ATTRIBUTES_BYTES) {
        out.push({ path: rel, why: `'${rel}' is larger than ${MAX_ATTRIBUTES_BYTES} bytes` });
        continue;
      }
      const was = base.get(rel);
      const baseText = was && was.mode !== '120000' ? await gitText(loc, ['cat-file', 'blob', was.blob]) : null;
      const why = attributesProblem(rel, fs.readFileSync(abs, 'utf8'), baseText);
      if (why) out.push({ path: rel, why });
    }
  }
  return out;
}

function isMetaFile(rel: string): boolean {
  return ['.gitattributes', '.gitignore', '.mailmap'].includes(path.posix.basename(rel).toLowerCase());
}
