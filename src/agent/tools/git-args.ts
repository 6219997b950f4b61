import { isNeverRead } from '../../policy/filter.js';
import { resolveInRoot } from '../../policy/validate.js';
import { ToolError } from './tool-error.js';

/**
 * The agent's `git` tool, argument by argument: an allow-list of subcommands AND of options per
 * subcommand. Anything not listed is refused — in particular every option that writes a file
 * (`--output`), runs a program (`--ext-diff`, `--textconv`, `--show-signature`, `-c`, `--exec-path`),
 * reads a file outside the worktree (`--no-index`, blame `--contents`/`--ignore-revs-file`/`-S`,
 * diff `-O`) or expands a format that runs something (`%G?`, `%(…)`). Options that take a file are
 * allowed only with a path confined to the worktree (symlinks resolved) that is not a secret file;
 * every path argument gets the same check. Git's own pathspec rules keep the rest in the repository.
 */

type Check = (value: string, root: string, what: string) => void;

interface ValueOption {
  check: Check;
  /** `--opt value` as well as `--opt=value` (short options: `-Xvalue` as well as `-X value`). */
  separate?: boolean;
  /** The value may be left out (`--decorate`, `--relative`). */
  optional?: boolean;
}

type Spec = Record<string, 'flag' | ValueOption>;

const fail = (what: string, why: string): never => {
  throw new ToolError(`${what}: ${why}`);
};

const num: Check = (v, _r, what) => void (/^\d{1,9}$/.test(v) || fail(what, `expects a number, got '${v}'`));
const text: Check = (v, _r, what) => void ((v.length <= 2000 && !v.includes('\0')) || fail(what, 'the value is too long'));
const rev: Check = (v, _r, what) => void ((v !== '' && !v.startsWith('-') && v.length <= 512 && !v.includes('\0')) || fail(what, `'${v}' is not a revision`));
const oneOf =
  (...allowed: string[]): Check =>
  (v, _r, what) =>
    void (allowed.includes(v) || fail(what, `expects one of ${allowed.join(', ')}`));
const matches =
  (re: RegExp, hint: string): Check =>
  (v, _r, what) =>
    void (re.test(v) || fail(what, `expects ${hint}`));

/** A file the option reads: inside the worktree after resolving links, and never a secret file. */
export const confinedFile: Check = (v, root, what) => {
  const r = resolveInRoot(root, v);
  if (!r.ok) fail(what, r.reason);
  else if (isNeverRead(r.rel)) fail(what, `'${v}' is a secret file; it is never read for the model`);
};

const PRETTY_NAMES = ['oneline', 'short', 'medium', 'full', 'fuller', 'reference', 'email', 'raw'];
/** `%G…` asks gpg to verify a signature (a program); `%(…)` placeholders run describe, read trailers with config, and grow with each git release. */
const format: Check = (v, _r, what) => {
  if (v.includes('\0') || v.length > 2000) fail(what, 'the format is too long');
  if (/%G/.test(v)) fail(what, "'%G' placeholders run gpg to check signatures; they are not allowed");
  if (/%\(/.test(v)) fail(what, "'%(…)' placeholders are not allowed; use the plain %h %H %an %ae %ad %s %b … placeholders");
  if (!/^t?format:/.test(v) && !v.includes('%') && !PRETTY_NAMES.includes(v)) fail(what, `expects ${PRETTY_NAMES.join(', ')} or format:<placeholders>`);
};
const DATE_FORMATS = ['relative', 'local', 'iso', 'iso8601', 'iso-strict', 'iso8601-strict', 'rfc', 'rfc2822', 'short', 'raw', 'human', 'unix', 'default'];
const date: Check = (v, r, what) => (v.startsWith('format:') ? text(v, r, what) : oneOf(...DATE_FORMATS, ...DATE_FORMATS.map((d) => `${d}-local`))(v, r, what));

const flags = (...names: string[]): Spec => Object.fromEntries(names.map((n) => [n, 'flag' as const]));

const DIFF_OPTIONS: Spec = {
  ...flags(
    '-p', '-u', '--patch', '-s', '--no-patch', '--raw', '--stat', '--numstat', '--shortstat', '--summary', '--name-only', '--name-status',
    '--compact-summary', '--patch-with-stat', '--patch-with-raw', '--full-index', '--binary', '-w', '--ignore-all-space', '-b',
    '--ignore-space-change', '--ignore-space-at-eol', '--ignore-cr-at-eol', '--ignore-blank-lines', '--minimal', '--patience', '--histogram',
    '--no-renames', '-B', '--break-rewrites', '-D', '--irreversible-delete', '--text', '-a', '-R', '--no-prefix', '--function-context', '-W',
    '--check', '--no-color', '--pickaxe-all', '--pickaxe-regex', '--find-copies-harder', '--cumulative',
  ),
  '--stat': { check: matches(/^\d{1,6}(,\d{1,6}){0,2}$/, '<width>[,<name-width>[,<count>]]'), optional: true },
  '--dirstat': { check: matches(/^[a-z0-9,]{1,60}$/, 'a list like files,10'), optional: true },
  '--unified': { check: num },
  '-U': { check: num, separate: true },
  '--inter-hunk-context': { check: num },
  '--diff-filter': { check: matches(/^[ACDMRTUXBacdmrtuxb*]{1,20}$/, 'letters from ACDMRTUXB') },
  '--diff-algorithm': { check: oneOf('default', 'myers', 'minimal', 'patience', 'histogram') },
  '--word-diff': { check: oneOf('plain', 'porcelain', 'none'), optional: true },
  '--abbrev': { check: num, optional: true },
  '-M': { check: matches(/^\d{1,3}%?$/, 'a similarity like 50%'), optional: true },
  '--find-renames': { check: matches(/^\d{1,3}%?$/, 'a similarity like 50%'), optional: true },
  '-C': { check: matches(/^\d{1,3}%?$/, 'a similarity like 50%'), optional: true },
  '--find-copies': { check: matches(/^\d{1,3}%?$/, 'a similarity like 50%'), optional: true },
  '-l': { check: num },
  '--relative': { check: confinedFile, optional: true },
  '-O': { check: confinedFile, separate: true },
  '-S': { check: text, separate: true },
  '-G': { check: text, separate: true },
};

const LOG_OPTIONS: Spec = {
  ...DIFF_OPTIONS,
  ...flags(
    '--oneline', '--graph', '--no-decorate', '--all', '--branches', '--tags', '--remotes', '--first-parent', '--merges', '--no-merges',
    '--reverse', '--follow', '--abbrev-commit', '--no-abbrev-commit', '--topo-order', '--date-order', '--author-date-order', '--full-history',
    '--simplify-merges', '--ancestry-path', '--left-right', '--cherry-pick', '--cherry-mark', '--boundary', '--source', '--parents',
    '--children', '--relative-date', '-i', '--regexp-ignore-case', '--all-match', '--invert-grep', '-E', '--extended-regexp', '-F',
    '--fixed-strings', '-m', '--cc', '--no-walk',
  ),
  '-n': { check: num, separate: true },
  '--max-count': { check: num },
  '--skip': { check: num },
  '--min-parents': { check: num },
  '--max-parents': { check: num },
  '--since': { check: text },
  '--after': { check: text },
  '--until': { check: text },
  '--before': { check: text },
  '--author': { check: text },
  '--committer': { check: text },
  '--grep': { check: text },
  '--decorate': { check: oneOf('short', 'full', 'auto', 'no'), optional: true },
  '--date': { check: date },
  '--pretty': { check: format, optional: true },
  '--format': { check: format },
};
const SHOW_OPTIONS: Spec = LOG_OPTIONS;

const STATUS_OPTIONS: Spec = {
  ...flags('-s', '--short', '-b', '--branch', '--show-stash', '--long', '-v', '--verbose', '-z', '--no-renames', '--renames', '--ahead-behind', '--no-ahead-behind'),
  '--porcelain': { check: oneOf('v1', 'v2', '1', '2'), optional: true },
  '-u': { check: oneOf('no', 'normal', 'all'), optional: true },
  '--untracked-files': { check: oneOf('no', 'normal', 'all'), optional: true },
  '--ignored': { check: oneOf('traditional', 'no', 'matching'), optional: true },
};

const BLAME_OPTIONS: Spec = {
  ...flags('-w', '-e', '--show-email', '-s', '-l', '-t', '-f', '--show-name', '-n', '--show-number', '-p', '--porcelain', '--line-porcelain', '--root', '--show-stats', '--incremental', '--minimal', '--first-parent', '-b'),
  '-L': { check: matches(/^[^\0]{1,200}$/, 'a line range like 10,20 or :funcname'), separate: true },
  '-M': { check: num, optional: true },
  '-C': { check: num, optional: true },
  '--date': { check: date },
  '--abbrev': { check: num, optional: true },
  '--ignore-rev': { check: rev, separate: true },
  '--ignore-revs-file': { check: confinedFile, separate: true },
  '--contents': { check: confinedFile, separate: true },
};

/** What the tool always adds, so the repository's config cannot turn on a program or colour. */
const FORCED: Record<GitToolCommand, string[]> = {
  status: ['--ignore-submodules=all'],
  diff: ['--no-ext-diff', '--no-textconv', '--no-color', '--ignore-submodules=all'],
  log: ['--no-ext-diff', '--no-textconv', '--no-color', '--no-show-signature'],
  show: ['--no-ext-diff', '--no-textconv', '--no-color', '--no-show-signature'],
  blame: ['--no-textconv'],
};

export const GIT_TOOL_COMMANDS = ['status', 'diff', 'log', 'show', 'blame'] as const;
export type GitToolCommand = (typeof GIT_TOOL_COMMANDS)[number];

const SPECS: Record<GitToolCommand, Spec> = { status: STATUS_OPTIONS, diff: { ...DIFF_OPTIONS, ...flags('--cached', '--staged', '--merge-base') }, log: LOG_OPTIONS, show: SHOW_OPTIONS, blame: BLAME_OPTIONS };

const MAX_ARGS = 64;

/**
 * Checks the tool's arguments (subcommand first) against the allow-list and returns the git
 * arguments to run (subcommand, the forced options, then the checked arguments), or throws a
 * ToolError that says which argument was refused and why.
 */
export function checkGitToolArgs(root: string, input: readonly string[]): string[] {
  const args = [...input];
  if (args[0] === 'git') args.shift();
  const sub = args[0];
  const cmd = GIT_TOOL_COMMANDS.find((c) => c === sub);
  if (!cmd) {
    throw new ToolError(`git ${sub ?? ''}: only ${GIT_TOOL_COMMANDS.join(', ')} are allowed`);
  }
  if (args.length > MAX_ARGS) throw new ToolError(`git ${cmd}: at most ${MAX_ARGS} arguments`);
  const spec = SPECS[cmd];
  const out: string[] = [cmd, ...FORCED[cmd]];
  let paths = false;
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    const what = `git ${cmd}: option '${a}'`;
    if (a === '' || a.includes('\0')) throw new ToolError(`git ${cmd}: an empty argument or a shell operator is not allowed`);
    if (paths) {
      checkPath(root, cmd, a);
      out.push(a);
      continue;
    }
    if (a === '--') {
      paths = true;
      out.push(a);
      continue;
    }
    if (!a.startsWith('-')) {
      checkPositional(root, cmd, a);
      out.push(a);
      continue;
    }
    if (cmd === 'log' || cmd === 'show') {
      if (/^-\d{1,9}$/.test(a)) {
        out.push(a);
        continue;
      }
    }
    const consumed = checkOption(spec, a, args[i + 1], root, what);
    out.push(a);
    if (consumed) {
      out.push(args[i + 1]!);
      i++;
    }
  }
  return out;
}

/** Checks one option; returns true when it took the next argument as its value. */
function checkOption(spec: Spec, a: string, next: string | undefined, root: string, what: string): boolean {
  const refused = (): never => {
    throw new ToolError(`${what} is not allowed`);
  };
  if (a.startsWith('--')) {
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    const s = spec[name];
    if (!s) return refused();
    if (s === 'flag') {
      if (eq >= 0) return refused();
      return false;
    }
    if (eq >= 0) {
      s.check(a.slice(eq + 1), root, what);
      return false;
    }
    if (s.optional) return false;
    if (s.separate && next !== undefined) {
      s.check(next, root, what);
      return true;
    }
    return fail(what, 'needs a value (--option=value)');
  }
  // Short options: exactly one letter, with its value attached or next.
  const name = a.slice(0, 2);
  const s = spec[name];
  if (!s) return refused();
  if (s === 'flag') {
    if (a.length > 2) return refused();
    return false;
  }
  const attached = a.slice(2);
  if (attached !== '') {
    s.check(attached, root, what);
    return false;
  }
  if (s.optional) return false;
  if (s.separate && next !== undefined) {
    s.check(next, root, what);
    return true;
  }
  return fail(what, 'needs a value');
}

/** A revision or a path (git decides which): as a path it must be confined; a `rev:path` must not name a secret file. */
function checkPositional(root: string, cmd: GitToolCommand, a: string): void {
  if (a.startsWith(':')) {
    if (a.startsWith(':/')) return; // a commit found by its message
    if (/^:\(|^:[!^]/.test(a)) throw new ToolError(`git ${cmd}: '${a}': pathspec magic is not allowed`);
    // :<path> or :<stage>:<path>, an index entry.
    secretCheck(cmd, a, a.replace(/^:(\d:)?/, ''));
    return;
  }
  const colon = a.indexOf(':');
  if (colon > 0) {
    secretCheck(cmd, a, a.slice(colon + 1));
    return;
  }
  checkPath(root, cmd, a);
}

function checkPath(root: string, cmd: GitToolCommand, a: string): void {
  if (a.startsWith(':')) throw new ToolError(`git ${cmd}: '${a}': pathspec magic is not allowed`);
  const r = resolveInRoot(root, a);
  if (!r.ok) throw new ToolError(`git ${cmd}: '${a}': ${r.reason}`);
  if (isNeverRead(r.rel)) throw new ToolError(`git ${cmd}: '${a}' is a secret file; it is never read for the model`);
}

function secretCheck(cmd: GitToolCommand, a: string, p: string): void {
  const rel = p.replace(/^\.\//, '');
  if (rel && isNeverRead(rel)) throw new ToolError(`git ${cmd}: '${a}' names a secret file; it is never read for the model`);
}
