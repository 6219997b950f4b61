import fs from 'node:fs';
import path from 'node:path';
import { git, type GitLocation } from '../../git/safe-git.js';
import { isDotGitName } from './content-rules.js';
import { RefusedError, errnoCode } from '../../core/errors.js';

/**
 * The daemon's own walk of a worktree the agent touched: readdir's file types (lstat where the file
 * system does not give them; never following a link, never opening a file), breadth first, asking git which untracked names are ignored one level at a
 * time (`check-ignore`, which only matches patterns). Git's own directory walk (`ls-files --others`,
 * `status`) is never used on such a tree: it probes every folder with a `.git` in it as a
 * repository, and a planted one whose HEAD is a FIFO hangs it.
 *
 * What git would misread or block on is reported before git reads the tree at all: a
 * `.gitattributes`, `.gitignore`, `.gitmodules` or `.mailmap` that is not a regular file or a link
 * (a FIFO there blocks `hash-object`). `.git` entries below the top are reported and never entered.
 */

export interface ContentProblem {
  path: string;
  why: string;
}

export interface BaseEntry {
  mode: string;
  blob: string;
}

export interface DiskEntry {
  rel: string;
  kind: 'file' | 'symlink';
}

export interface Walked {
  /** Regular files and links that are not ignored. */
  entries: DiskEntry[];
  problems: ContentProblem[];
  /** Set when git must not read this tree at all (see above); entries are then incomplete. */
  unsafeForGit: boolean;
}

export class TreeTooLargeError extends RefusedError {
  override name = 'TreeTooLargeError';
}

const META_FILES = new Set(['.gitattributes', '.gitignore', '.gitmodules', '.mailmap']);

/** What readdir already knows (the file system's d_type), or lstat when it does not say. */
type Kind = Pick<fs.Stats, 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isFIFO' | 'isSocket' | 'isCharacterDevice' | 'isBlockDevice'>;

interface Found {
  rel: string;
  name: string;
  st: Kind;
}

function known(d: fs.Dirent): boolean {
  return d.isFile() || d.isDirectory() || d.isSymbolicLink() || d.isFIFO() || d.isSocket() || d.isCharacterDevice() || d.isBlockDevice();
}

export async function walkWorktree(
  loc: GitLocation & { workTree: string },
  env: { GIT_INDEX_FILE: string },
  base: ReadonlyMap<string, BaseEntry>,
  o: { maxEntries: number; timeoutMs: number },
): Promise<Walked> {
  const root = loc.workTree;
  const out: Walked = { entries: [], problems: [], unsafeForGit: false };
  const submodules = new Set<string>();
  const trackedDirs = new Set<string>();
  for (const [rel, e] of base) {
    if (e.mode === '160000') submodules.add(rel);
    for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) trackedDirs.add(rel.slice(0, i));
  }
  let seen = 0;
  let level = [''];
  while (level.length) {
    const found: Found[] = [];
    for (const dir of level) {
      let dirents: fs.Dirent[];
      try {
        dirents = fs.readdirSync(dir ? path.join(root, dir) : root, { withFileTypes: true });
      } catch (e) {
        out.problems.push({ path: dir || '.', why: `'${dir || '.'}' cannot be read (${errnoCode(e) ?? 'error'})` });
        continue;
      }
      for (const d of dirents) {
        const name = d.name;
        if (++seen > o.maxEntries) throw new TreeTooLargeError(`the worktree holds more than ${o.maxEntries} files and folders; a proposal that large is not reviewable`);
        if (!dir && name === '.git') continue; // the worktree's own link to its repository, checked on its own
        const rel = dir ? `${dir}/${name}` : name;
        let st: Kind = d;
        if (!known(d)) {
          try {
            st = fs.lstatSync(path.join(root, rel));
          } catch {
            continue; // gone while we looked
          }
        }
        if (isDotGitName(name)) {
          out.problems.push({ path: rel, why: `'${rel}' is a .git ${st.isDirectory() ? 'folder' : 'entry'}: a nested or planted repository` });
          continue;
        }
        if (META_FILES.has(name.toLowerCase()) && !st.isFile() && !st.isSymbolicLink() && !st.isDirectory()) {
          out.problems.push({ path: rel, why: `'${rel}' is ${specialKind(st)}, not a regular file (git would block reading it)` });
          out.unsafeForGit = true;
        }
        found.push({ rel, name, st });
      }
    }
    if (out.unsafeForGit) return out;
    const untracked = found.filter((f) => !base.has(f.rel) && !trackedDirs.has(f.rel)).map((f) => f.rel);
    const ignored = untracked.length ? await checkIgnored(loc, env, untracked, o.timeoutMs) : new Set<string>();
    const next: string[] = [];
    for (const f of found) {
      const isIgnored = ignored.has(f.rel);
      if (f.st.isDirectory()) {
        if (submodules.has(f.rel) || (isIgnored && !trackedDirs.has(f.rel))) continue;
        next.push(f.rel);
      } else if (isIgnored) {
        continue;
      } else if (f.st.isFile()) {
        out.entries.push({ rel: f.rel, kind: 'file' });
      } else if (f.st.isSymbolicLink()) {
        out.entries.push({ rel: f.rel, kind: 'symlink' });
      } else if (!out.problems.some((p) => p.path === f.rel)) {
        out.problems.push({ path: f.rel, why: `'${f.rel}' is ${specialKind(f.st)}, not a regular file` });
      }
    }
    level = next;
  }
  out.entries.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return out;
}

async function checkIgnored(loc: GitLocation, env: Record<string, string>, paths: readonly string[], timeoutMs: number): Promise<Set<string>> {
  const r = await git(loc, ['check-ignore', '-z', '--stdin'], { env, input: paths.map((p) => `${p}\0`).join(''), allowFail: true, timeoutMs });
  // 0: some are ignored, 1: none is; anything else is git failing.
  if (r.code !== 0 && r.code !== 1) throw new Error(`git check-ignore failed in ${loc.workTree}: ${r.stderr.trim() || `exit ${r.code ?? 'signal'}`}`);
  return new Set(r.stdout.toString('utf8').split('\0').filter(Boolean));
}

function specialKind(st: Kind): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'a special file';
}
