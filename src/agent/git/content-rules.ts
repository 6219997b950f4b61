import fs from 'node:fs';
import path from 'node:path';
import { protectedReason } from '../../policy/protected-paths.js';

/**
 * What a proposal may never carry into the user's tree, whatever wrote it in the worktree (the
 * agent's file tools refuse most of it, but a sandboxed command may write anything there). Each
 * rule returns the reason shown to the user, or undefined.
 *
 * - `.git` at any depth (a file or folder named like it, including the spellings NTFS and HFS+
 *   treat as `.git`): the user's git would read it as a repository or as its own metadata;
 * - `.gitmodules`: submodule URLs and update commands the user's git would act on;
 * - `.gitattributes` lines that select a filter, diff or merge driver (the user's git would run it);
 * - symlinks whose target is absolute or leaves the tree (directly or through another link);
 * - protected paths (protected-paths.ts): hooks, editor tasks, agent and Kairos configuration.
 * Nested repositories, FIFOs, sockets and devices are found by the tree walk (tree-index.ts).
 */

// Characters HFS+ ignores in names, so `.g\u200cit` is `.git` there.
const HFS_IGNORED = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;

/** True for a path component git (on any file system it runs on) would treat as `.git`. */
export function isDotGitName(name: string): boolean {
  const n = name.replace(HFS_IGNORED, '').toLowerCase();
  // NTFS drops trailing dots and spaces, and knows `.git` by its 8.3 short name too.
  return n.replace(/[. ]+$/, '') === '.git' || /^git~\d+$/.test(n);
}

/** The reason a changed path may not be proposed at all, by its name alone. */
export function pathProblem(rel: string): string | undefined {
  const segs = rel.split('/');
  if (segs.some(isDotGitName)) return `'${rel}' is a .git entry (git would take it for a repository or its own metadata)`;
  if (segs.some((s) => s.toLowerCase() === '.gitmodules')) return `'${rel}' is submodule configuration (it names URLs and update commands git acts on)`;
  return protectedReason(rel);
}

const DRIVER_ATTRIBUTES = new Set(['filter', 'diff', 'merge']);

/** Splits an attributes line into its pattern and attribute tokens (a pattern may be a C-quoted string). */
function attributeTokens(line: string): string[] {
  let rest = line;
  if (rest.startsWith('"')) {
    const end = rest.indexOf('"', 1);
    rest = end < 0 ? '' : rest.slice(end + 1);
  } else {
    rest = rest.replace(/^\S+/, '');
  }
  return rest.split(/\s+/).filter(Boolean);
}

/** Lines of a `.gitattributes` text that choose a driver (`filter=x`, `diff=x`, `merge=x`). */
export function driverLines(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const selects = attributeTokens(line).some((t) => {
      const eq = t.indexOf('=');
      if (eq < 0) return false;
      return DRIVER_ATTRIBUTES.has(t.slice(0, eq).replace(/^[-!]/, '').toLowerCase());
    });
    if (selects) out.push(line);
  }
  return out;
}

/** The reason a new or changed `.gitattributes` may not be proposed: driver lines that were not in the base version. */
export function attributesProblem(rel: string, text: string, baseText: string | null): string | undefined {
  const had = new Set(baseText === null ? [] : driverLines(baseText));
  const added = driverLines(text).filter((l) => !had.has(l));
  if (added.length === 0) return undefined;
  return `'${rel}' selects a filter, diff or merge driver (${added.slice(0, 3).map((l) => JSON.stringify(l)).join(', ')}), which the user's git would run`;
}

const MAX_LINK_HOPS = 40;

/**
 * The reason a symlink at `rel` (inside `root`) with `target` may not be proposed: an absolute
 * target, one that climbs out of the tree, or one that reaches outside through other links in the tree.
 */
export function symlinkProblem(root: string, rel: string, target: string): string | undefined {
  if (target.includes('\0')) return `'${rel}' is a symlink with a NUL byte in its target`;
  if (path.posix.isAbsolute(target) || /^[A-Za-z]:[\\/]/.test(target) || target.startsWith('\\')) {
    return `'${rel}' is a symlink to an absolute path (${JSON.stringify(target)}), outside the tree`;
  }
  const escapes = resolveInTree(root, path.posix.dirname(rel), target, 0);
  return escapes ? `'${rel}' is a symlink that points outside the tree (${JSON.stringify(target)}${escapes === true ? '' : `, through ${escapes}`})` : undefined;
}

/** false when `target` (relative to the in-tree folder `dir`) stays in the tree; true or the escaping link's path when it does not. */
function resolveInTree(root: string, dir: string, target: string, hops: number): boolean | string {
  if (hops > MAX_LINK_HOPS) return true;
  const parts = (dir === '.' ? [] : dir.split('/')).filter(Boolean);
  const comps = target.split(/[\\/]+/).filter((c) => c !== '' && c !== '.');
  for (let i = 0; i < comps.length; i++) {
    const c = comps[i]!;
    if (c === '..') {
      if (parts.length === 0) return true;
      parts.pop();
      continue;
    }
    parts.push(c);
    const rel = parts.join('/');
    let st: fs.Stats;
    try {
      st = fs.lstatSync(path.join(root, rel));
    } catch {
      continue; // not there (yet): the rest resolves lexically
    }
    if (!st.isSymbolicLink()) continue;
    const inner = fs.readlinkSync(path.join(root, rel));
    if (path.posix.isAbsolute(inner) || /^[A-Za-z]:[\\/]/.test(inner)) return rel;
    parts.pop();
    const rest = [inner, ...comps.slice(i + 1)].join('/');
    const r = resolveInTree(root, parts.join('/') || '.', rest, hops + 1);
    return r === true ? rel : r;
  }
  return false;
}
