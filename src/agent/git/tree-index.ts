import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { git, gitText, type GitLocation } from '../../git/safe-git.js';
import { attributesProblem, pathProblem, symlinkProblem } from './content-rules.js';
import { walkWorktree, type BaseEntry, type ContentProblem, type DiskEntry } from './tree-walk.js';
import { errnoCode, isAbsent, messageOf } from '../../core/errors.js';

export { TreeTooLargeError, type ContentProblem } from './tree-walk.js';

/**
 * The state of a worktree the agent (or a command it ran) has touched, as a git index — built
 * without `git add`, which would follow a planted `.git`, add nested repositories as gitlinks and
 * run whatever clean filter a planted `.gitattributes` selects.
 *
 * Instead: a scratch index starts as the base tree; the daemon walks the tree itself (tree-walk.ts:
 * lstat, never following a link, never opening anything), skipping what git ignores; regular
 * files are hashed by `git hash-object --stdin-paths` (built-in conversions only: every driver is
 * neutralised, see driver-config.ts), symlinks by their target bytes; and the changed entries go in
 * with `update-index --index-info`. What is not a regular file or a symlink (FIFOs, sockets,
 * devices), `.git` entries and nested repositories never enter the index, and each is reported as
 * a problem, as is every changed path the content rules (content-rules.ts) refuse.
 */

export interface WorktreeIndex {
  /** The scratch index: base plus every change found on disk that may be an index entry. */
  env: { GIT_INDEX_FILE: string };
  /** Paths whose entry differs from the base (added, changed, deleted), sorted. */
  changed: string[];
  /** Why this tree may not be proposed; empty when it may. */
  problems: ContentProblem[];
  /** The tree holds something git would block on: the index is the base alone, and git must not run over the tree. */
  unsafeForGit: boolean;
  dispose(): void;
}

export interface IndexWorktreeOptions {
  /** The admin folder the worktree's own `.git` file must still point at (a replaced or rewritten one is a problem). */
  expectedAdminDir?: string;
  /** Stop walking after this many entries (default 500,000): a tree that large is not a proposal. */
  maxEntries?: number;
  /** Each git command's limit (default 120 s): a planted tree must not hang a task forever. */
  timeoutMs?: number;
}

const ZERO = '0'.repeat(40);

export async function indexWorktree(loc: GitLocation & { workTree: string }, base: string, opts: IndexWorktreeOptions = {}): Promise<WorktreeIndex> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-index-'));
  const env = { GIT_INDEX_FILE: path.join(scratch, 'index') };
  const dispose = (): void => fs.rmSync(scratch, { recursive: true, force: true });
  try {
    const timeoutMs = opts.timeoutMs ?? 120_000;
    // The worktree's own index holds the base with every file's stat data, unless something was staged or committed there.
    const ownIndex = path.join(loc.gitDir, 'index');
    const staged = fs.existsSync(ownIndex) ? await namesFrom(loc, ['diff-index', '--cached', '--name-only', '-z', '--no-renames', '--ignore-submodules=all', base, '--'], timeoutMs) : undefined;
    if (staged?.size === 0) fs.copyFileSync(ownIndex, env.GIT_INDEX_FILE);
    else await git(loc, ['read-tree', base], { env, timeoutMs });
    const baseEntries = await readIndex(loc, env, timeoutMs);
    const problems: ContentProblem[] = [];
    const root = loc.workTree;

    if (opts.expectedAdminDir !== undefined) {
      const why = gitFileProblem(root, opts.expectedAdminDir);
      if (why) problems.push({ path: '.git', why });
    }

    const walked = await walkWorktree(loc, env, baseEntries, { maxEntries: opts.maxEntries ?? 500_000, timeoutMs });
    problems.push(...walked.problems);
    // A tree git would block on is not read by git any further: the problems say why.
    if (walked.unsafeForGit) return { env, changed: [], problems, unsafeForGit: true, dispose };

    // Only what may differ from the base is hashed: untracked files, and what git's stat cache says changed.
    const onDisk = staged ? await namesFrom(loc, ['diff-files', '--name-only', '-z', '--ignore-submodules=all'], timeoutMs) : undefined;
    const hint = staged && onDisk ? new Set([...staged, ...onDisk]) : undefined;
    const toHash = walked.entries.filter((e) => {
      const was = baseEntries.get(e.rel);
      return !was || !hint || hint.has(e.rel) || (was.mode === '120000') !== (e.kind === 'symlink');
    });
    const hashed = await hashEntries(loc, scratch, toHash, timeoutMs);
    const blobOf = new Map(toHash.map((e, i) => [e.rel, hashed[i]!]));
    const modeOf = new Map(toHash.map((e) => [e.rel, e.kind === 'symlink' ? '120000' : fileMode(path.join(root, e.rel))]));
    const lines: string[] = [];
    const changed: string[] = [];
    const present = new Set<string>();
    for (const e of walked.entries) {
      present.add(e.rel);
      const was = baseEntries.get(e.rel);
      const blob = blobOf.get(e.rel) ?? was!.blob;
      const mode = modeOf.get(e.rel) ?? was!.mode;
      if (was && was.mode === mode && was.blob === blob) continue;
      changed.push(e.rel);
      lines.push(`${mode} ${blob}\t${e.rel}\0`);
    }
    const deletions: string[] = [];
    for (const [rel, was] of baseEntries) {
      if (was.mode === '160000' || present.has(rel)) continue;
      changed.push(rel);
      deletions.push(`0 ${ZERO}\t${rel}\0`);
    }
    // Deletions first, so a file that became a folder can take its new entries.
    if (lines.length || deletions.length) await git(loc, ['update-index', '-z', '--index-info'], { input: [...deletions, ...lines].join(''), env, timeoutMs });
    changed.sort();

    problems.push(...(await contentProblems(loc, root, changed, walked.entries, blobOf, baseEntries, timeoutMs)));
    return { env, changed, problems, unsafeForGit: false, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

/**
 * Names a command lists (-z), or undefined when it fails. Run against the worktree's own index
 * (written by the checkout, with every file's stat data; in the repository's git folder, which no
 * sandboxed command can write): `diff-index --cached <base>` names what the index holds beyond the
 * base (a commit or a staged change made in the worktree), `diff-files` what changed on disk since
 * (by stat, re-reading only racy entries, through the same driver-less conversions).
 */
async function namesFrom(loc: GitLocation, args: string[], timeoutMs: number): Promise<Set<string> | undefined> {
  const r = await git(loc, args, { allowFail: true, timeoutMs });
  if (r.code !== 0) return undefined;
  return new Set(r.stdout.toString('utf8').split('\0').filter(Boolean));
}

/** git's mode for a regular file: executable when the owner may execute it. */
function fileMode(abs: string): string {
  return fs.lstatSync(abs).mode & 0o100 ? '100755' : '100644';
}

async function readIndex(loc: GitLocation, env: Record<string, string>, timeoutMs: number): Promise<Map<string, BaseEntry>> {
  const out = new Map<string, BaseEntry>();
  const text = await gitText(loc, ['ls-files', '-s', '-z'], { env, timeoutMs });
  for (const rec of text.split('\0')) {
    const m = /^(\d{6}) ([0-9a-f]+) \d\t(.*)$/s.exec(rec);
    if (m) out.set(m[3]!, { mode: m[1]!, blob: m[2]! });
  }
  return out;
}

function gitFileProblem(root: string, adminDir: string): string | undefined {
  const file = path.join(root, '.git');
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (e) {
    if (isAbsent(e)) return "the worktree's own .git file was removed";
    return `the worktree's own .git file cannot be read (${errnoCode(e) ?? messageOf(e)})`;
  }
  if (!st.isFile()) return "the worktree's own .git file was replaced by a folder or a link (a planted repository)";
  if (st.size > 4096) return "the worktree's own .git file was rewritten";
  const m = /^gitdir: (.+)$/.exec(fs.readFileSync(file, 'utf8').trim());
  const real = (p: string): string => {
    try {
      return fs.realpathSync(p);
    } catch {
      // Compared by name when it cannot be resolved: a mismatch is reported as a problem, never passed.
      return path.resolve(p);
    }
  };
  if (!m || real(path.resolve(root, m[1]!)) !== real(adminDir)) return "the worktree's own .git file was rewritten to point at another repository";
  return undefined;
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
async function hashEntries(loc: GitLocation, scratch: string, entries: readonly DiskEntry[], timeoutMs: number): Promise<string[]> {
  // Filled by index below; an entry left '' fails the id check at the end.
  const out: string[] = Array.from({ length: entries.length }, () => '');
  const files = entries.map((e, i) => ({ e, i })).filter((x) => x.e.kind === 'file');
  if (files.length) {
    const ids = (await gitText(loc, ['hash-object', '-w', '--stdin-paths'], { input: files.map((f) => `${stdinPath(f.e.rel)}\n`).join(''), timeoutMs })).split('\n');
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
    const ids = (await gitText(loc, ['hash-object', '-w', '--no-filters', '--stdin-paths'], { input: tmp.map((p) => `${p}\n`).join(''), timeoutMs })).split('\n');
    links.forEach((l, k) => (out[l.i] = ids[k]!));
  }
  for (const [i, id] of out.entries()) if (!/^[0-9a-f]{40,64}$/.test(id ?? '')) throw new Error(`git hash-object gave no id for ${entries[i]!.rel}`);
  return out;
}

const MAX_ATTRIBUTES_BYTES = 1024 * 1024;

async function contentProblems(
  loc: GitLocation,
  root: string,
  changed: readonly string[],
  entries: readonly DiskEntry[],
  blobs: ReadonlyMap<string, string>,
  base: Map<string, BaseEntry>,
  timeoutMs: number,
): Promise<ContentProblem[]> {
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
      // What the diff carries (the blob) and what is on disk are both checked: a conversion could make them differ.
      const blob = blobs.get(rel);
      const size = Number((await gitText(loc, ['cat-file', '-s', blob!], { timeoutMs })).trim());
      if (size > MAX_ATTRIBUTES_BYTES || fs.lstatSync(path.join(root, rel)).size > MAX_ATTRIBUTES_BYTES) {
        out.push({ path: rel, why: `'${rel}' is larger than ${MAX_ATTRIBUTES_BYTES} bytes` });
        continue;
      }
      const was = base.get(rel);
      const baseText = was && was.mode !== '120000' ? await gitText(loc, ['cat-file', 'blob', was.blob], { timeoutMs }) : null;
      const why =
        attributesProblem(rel, await gitText(loc, ['cat-file', 'blob', blob!], { timeoutMs }), baseText) ??
        attributesProblem(rel, fs.readFileSync(path.join(root, rel), 'utf8'), baseText);
      if (why) out.push({ path: rel, why });
    }
  }
  return out;
}

function isMetaFile(rel: string): boolean {
  return ['.gitattributes', '.gitignore', '.mailmap'].includes(path.posix.basename(rel).toLowerCase());
}
