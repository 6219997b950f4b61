import fs from 'node:fs';
import path from 'node:path';
import { git } from '../git/safe-git.js';
import { resolveGitDirs } from '../events/git-dir.js';
import { isBuildFile } from './path-kinds.js';
import { messageOf } from '../core/errors.js';

/**
 * Changes that give an agent nothing to check, judged by the diff (never by the file names): a
 * reformat (only whitespace moved), comments edited, or a release's bookkeeping (a version number
 * or a date bumped in a manifest, a snapshot of `--help`, a citation file). The decide stage sleeps
 * on an item whose every changed line is one of these, without a model: formatting and version
 * bumps are what a formatter and a release script write, and the build that follows says more
 * about them than a model reading them would.
 *
 * Conservative on purpose — anything it cannot read as inert is a change worth a look:
 *   - a binary file, an unreadable base, or a diff git refuses → not inert;
 *   - whitespace counts only outside indentation-sensitive files (Python, YAML, Makefiles...), where
 *     only trailing whitespace and blank lines are inert;
 *   - a comment is a whole line in the file's own comment syntax (a code line with a trailing
 *     comment changed is code); a line that closes a block comment and goes on with code is code;
 *   - version numbers are inert only outside source code, and in a build file (a manifest) only on
 *     the package's own `version` line or a workspace-internal (path) dependency: a dependency
 *     upgrade can break the build, so it is not bookkeeping.
 */

export type InertKind = 'whitespace' | 'comments' | 'versions';

export type InertVerdict =
  | { inert: true; kinds: InertKind[]; files: number }
  | { inert: false; reason: string };

/** Source code: a version-like token there is code (a constant, a test's fixture), not bookkeeping. */
const CODE_EXT = /\.(rs|[cm]?[jt]sx?|go|java|kt|kts|scala|swift|c|h|cc|cpp|cxx|hpp|hh|cs|dart|php|py|rb|pl|sh|bash|zsh|fish|lua|ex|exs|erl|hs|ml|zig|nim|r|jl|vue|svelte)$/i;
/** Whole-line comments start with `//`, or are a block comment's lines (`/*`, ` * ...`, `*\/`). */
const SLASH_COMMENTS = /\.(rs|[cm]?[jt]sx?|go|java|kt|kts|scala|swift|c|h|cc|cpp|cxx|hpp|hh|cs|dart|php|css|scss|less|proto|zig|groovy|gradle|vue|svelte)$/i;
/** Whole-line comments start with `#` (a shebang `#!` is not one). */
const HASH_COMMENTS = /\.(py|rb|pl|sh|bash|zsh|fish|toml|ya?ml|r|cmake|cfg|ini|conf|properties|nim|ex|exs|jl)$|(^|\/)(Makefile|Dockerfile|\.gitignore|\.dockerignore|\.gitattributes|\.editorconfig|CODEOWNERS)$/i;
/** Where indentation is meaning: only trailing whitespace and blank lines are inert there. */
const INDENT_SENSITIVE = /\.(py|pyi|ya?ml|haml|pug|jade|slim|coffee|nim|sass|styl)$|(^|\/)(Makefile|GNUmakefile|[^/]*\.mk)$/i;

/** A version (1.18, 2.0.0-pre.4, v0.33.0-nightly.20260302) or a date (2022-01-20): what a release bumps. */
const VERSION_TOKEN = /\bv?\d+\.\d+(?:\.\d+){0,2}(?:[-+][0-9A-Za-z][0-9A-Za-z.-]*)?\b|\b\d{4}-\d{2}-\d{2}\b/g;
/** In a build file, the lines whose version may change as bookkeeping: the package's own, or a path dependency's. */
const OWN_VERSION_KEY = /^\s*"?version"?\s*[:=]/i;
const OWN_VERSION_LINE = /^\s*"?version"?\s*[:=]|\bpath\s*=\s*"|"workspace:/i;

function isSlashComment(line: string): boolean {
  const t = line.trim();
  if (t.startsWith('//')) return true;
  // A block comment's line; one that closes the comment and goes on with code is code.
  const close = t.indexOf('*/');
  const endsClean = close === -1 || close === t.length - 2;
  if (t.startsWith('/*')) return endsClean;
  if (t === '*' || t.startsWith('* ') || t.startsWith('*/')) return endsClean;
  return false;
}

function isHashComment(line: string): boolean {
  const t = line.trim();
  return t.startsWith('#') && !t.startsWith('#!');
}

function commentTest(file: string): ((line: string) => boolean) | undefined {
  if (SLASH_COMMENTS.test(file)) return isSlashComment;
  if (HASH_COMMENTS.test(file)) return isHashComment;
  return undefined;
}

/**
 * Text with the whitespace a reformat may move taken out: runs become one space, kept only between
 * two word characters (`return x` stays apart, `f( a )` is `f(a)`). In indentation-sensitive files
 * each line keeps its indentation and only trailing whitespace goes.
 */
function normalise(lines: readonly string[], indentSensitive: boolean): string {
  const kept = lines.filter((l) => l.trim() !== '');
  if (indentSensitive) return kept.map((l) => l.trimEnd()).join('\n');
  return kept
    .join(' ')
    .replace(/\s+/g, ' ')
    .replace(/ (?=\W)|(?<=\W) /g, '')
    .trim();
}

interface FileDiff {
  file: string;
  binary: boolean;
  hunks: Array<{ removed: string[]; added: string[] }>;
}

/** Parses `git diff -U0` output into files and hunks (removed and added lines, without their sign). */
export function parseDiff(text: string): FileDiff[] {
  const files: FileDiff[] = [];
  let cur: FileDiff | undefined;
  let inHunk = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('diff --git ')) {
      // "diff --git a/X b/X": the b/ side names the file (no renames: --no-renames).
      const m = / b\/(.*)$/.exec(line);
      cur = { file: m?.[1] ?? '', binary: false, hunks: [] };
      files.push(cur);
      inHunk = false;
      continue;
    }
    if (!cur) continue;
    if (line.startsWith('@@')) {
      cur.hunks.push({ removed: [], added: [] });
      inHunk = true;
      continue;
    }
    if (!inHunk) {
      if (line.startsWith('Binary files ') || line.startsWith('GIT binary patch')) cur.binary = true;
      continue;
    }
    const h = cur.hunks.at(-1)!;
    if (line.startsWith('-')) h.removed.push(line.slice(1));
    else if (line.startsWith('+')) h.added.push(line.slice(1));
  }
  return files;
}

/**
 * The versions this diff gives packages on their own `version` lines: a release writes its new
 * version into other lines of its manifests too (an image tag, a sibling's pinned version), and a
 * line that only takes up one of these is bookkeeping as well. A dependency upgraded to a version
 * no package here is given is not.
 */
function releasedVersions(files: readonly FileDiff[]): Set<string> {
  const out = new Set<string>();
  for (const f of files) for (const h of f.hunks) for (const l of h.added) if (OWN_VERSION_KEY.test(l)) for (const v of l.match(VERSION_TOKEN) ?? []) out.add(v);
  return out;
}

/** A build file's changed line that is bookkeeping: the own version, a path dependency, or a line taking up a released version. */
function bookkeepingLine(line: string, released: ReadonlySet<string>): boolean {
  if (OWN_VERSION_LINE.test(line)) return true;
  const versions = line.match(VERSION_TOKEN) ?? [];
  return versions.length > 0 && versions.every((v) => released.has(v));
}

/** What one hunk's change is, or undefined when it is a real change. */
function hunkKind(file: string, removed: readonly string[], added: readonly string[], released: ReadonlySet<string>): InertKind | undefined {
  const indent = INDENT_SENSITIVE.test(file);
  if (normalise(removed, indent) === normalise(added, indent)) return 'whitespace';
  const isComment = commentTest(file);
  const code = (ls: readonly string[]) => (isComment ? ls.filter((l) => !isComment(l)) : ls);
  const r = code(removed);
  const a = code(added);
  if (isComment && normalise(r, indent) === normalise(a, indent)) return 'comments';
  if (CODE_EXT.test(file)) return undefined;
  if (isBuildFile(file) && !a.filter((l) => l.trim() !== '').every((l) => bookkeepingLine(l, released))) return undefined;
  const unversioned = (ls: readonly string[]) => normalise(ls, indent).replace(VERSION_TOKEN, '<v>');
  return unversioned(r) === unversioned(a) ? 'versions' : undefined;
}

/** Classifies a parsed diff: inert when every hunk of every file is. */
export function classifyDiff(files: readonly FileDiff[]): InertVerdict {
  const kinds = new Set<InertKind>();
  const released = releasedVersions(files);
  for (const f of files) {
    if (f.binary) return { inert: false, reason: `${f.file} is binary` };
    for (const h of f.hunks) {
      const k = hunkKind(f.file, h.removed, h.added, released);
      if (!k) return { inert: false, reason: `${f.file} has a real change` };
      kinds.add(k);
    }
  }
  return { inert: true, kinds: [...kinds].sort(), files: files.length };
}

/** At most this many paths are diffed for one item; a larger item is worth a look anyway. */
export const MAX_INERT_PATHS = 200;

/**
 * Is every change to `paths` of the work tree at `repoDir`, since commit `base`, inert? `base` is
 * what the files held before the item (the parent of its first commit, or HEAD for saves alone).
 */
export async function inertSince(repoDir: string, base: string, paths: readonly string[]): Promise<InertVerdict> {
  if (!paths.length) return { inert: false, reason: 'no paths' };
  if (paths.length > MAX_INERT_PATHS) return { inert: false, reason: `${paths.length} paths` };
  try {
    const dirs = resolveGitDirs(repoDir);
    // Pathspecs are literal (a hostile file name is not a glob) and relative to the work tree.
    const specs = paths.map((p) => `:(literal)${p.split(path.sep).join('/')}`);
    const res = await git(
      { gitDir: dirs.gitDir, workTree: repoDir },
      ['diff', '--no-color', '--no-ext-diff', '--no-textconv', '--no-renames', '-U0', base, '--', ...specs],
      { timeoutMs: 20_000 },
    );
    const files = parseDiff(res.stdout.toString('utf8'));
    // git diff is silent about a file git does not track (a new file not yet added): silence is
    // "unchanged" only for a path the base holds, or that is absent both there and here.
    const diffed = new Set(files.map((f) => f.file));
    const silent = paths.filter((p) => !diffed.has(p.split(path.sep).join('/')));
    if (silent.length) {
      const tree = await git({ gitDir: dirs.gitDir, workTree: repoDir }, ['ls-tree', '-r', '-z', '--name-only', base, '--', ...silent.map((p) => `:(literal)${p.split(path.sep).join('/')}`)], { timeoutMs: 20_000 });
      const inBase = new Set(tree.stdout.toString('utf8').split('\0').filter(Boolean));
      const added = silent.find((p) => !inBase.has(p.split(path.sep).join('/')) && fs.existsSync(path.join(repoDir, p)));
      if (added !== undefined) return { inert: false, reason: `${added} is new (not in ${base})` };
    }
    return classifyDiff(files);
  } catch (e) {
    return { inert: false, reason: `git diff failed: ${messageOf(e)}` };
  }
}

/** "whitespace and version numbers" for the decision's reason. */
export function describeInert(kinds: readonly InertKind[]): string {
  const words: Record<InertKind, string> = { whitespace: 'formatting', comments: 'comments', versions: 'version numbers or dates' };
  const w = kinds.map((k) => words[k]);
  return w.length <= 1 ? (w[0] ?? 'nothing') : `${w.slice(0, -1).join(', ')} and ${w.at(-1)}`;
}
