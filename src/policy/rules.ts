import path from 'node:path';
import picomatch from 'picomatch';
import { parseBash } from './shell-grammar.js';
import { evaluateWord, renderTokens, WORD_TYPES } from './shell-words.js';
import { z } from 'zod';
import { UserInputError, messageOf } from '../core/errors.js';

/**
 * The permission-rule syntax coding-agent users already write (Claude Code's):
 *   Bash                 every command            Bash(npm test)        exactly that command
 *   Bash(npm run test:*) that prefix, then a word boundary (so `npm run test -- -u`, not `npm run tests`)
 *   Bash(git * main)     `*` matches any characters, spaces included; a single trailing " *" is optional
 *   Read(src/**)         gitignore-style path globs: `/x` and `./x` anchored at the repository root,
 *                        a pattern without a slash matches at any depth, `//abs` absolute, `~/x` in $HOME
 *   Edit(...) / Write(...) file modification (either name covers both Kairos write tools)
 *   mcp__server / mcp__server__tool / mcp__server__*   MCP tools
 * A rule only ever matches one simple command: compound commands are split first (shell.ts), so
 * `Bash(npm test:*)` never covers `npm test && curl x | sh`. A command another one runs is a
 * simple command too: `timeout 5 npm test` is checked as written and as `npm test`; the second
 * needs no rule of its own when the rule allowing the first spells it out (`Bash(sudo apt-get
 * update)`), and a deny rule for it holds whatever wraps it (command-rules.ts).
 */

export class RuleSyntaxError extends UserInputError {
  override name = 'RuleSyntaxError';
}

export interface Rule {
  /** The rule as the user wrote it, shown in audit and explain. */
  readonly text: string;
  readonly tool: string;
  /** Absent for a bare tool name (every use of the tool). */
  readonly specifier?: string;
}

/** A tool call in the vocabulary of rules; see toolCallFor() for Kairos's own tool names. */
export const ToolCall = z.discriminatedUnion('tool', [
  z.object({ tool: z.literal('Bash'), command: z.string() }).strict(),
  z.object({ tool: z.enum(['Read', 'Edit', 'Write']), path: z.string() }).strict(),
  z.object({ tool: z.literal('mcp'), server: z.string().min(1), name: z.string() }).strict(),
  z.object({ tool: z.literal('other'), name: z.string().min(1) }).strict(),
]);
export type ToolCall = z.infer<typeof ToolCall>;

const RULE_RE = /^([A-Za-z][A-Za-z0-9_-]*)(?:\(([\s\S]*)\))?$/;

export function parseRule(text: string): Rule {
  const m = RULE_RE.exec(text.trim());
  if (!m) {
    throw new RuleSyntaxError(
      `'${text}' is not a permission rule — write Tool or Tool(specifier), e.g. "Bash(npm test)", "Read(src/**)" or "mcp__server__tool"`,
    );
  }
  const tool = m[1]!;
  const spec = m[2];
  if (spec !== undefined && spec.trim() === '') {
    throw new RuleSyntaxError(`'${text}' has empty parentheses — write "${tool}" for every use of the tool, or put a command or path inside`);
  }
  if (tool.startsWith('mcp__') && spec !== undefined) {
    throw new RuleSyntaxError(`'${text}': MCP rules take no parentheses — write "mcp__server" or "mcp__server__tool"`);
  }
  if (spec !== undefined && (tool === 'Read' || tool === 'Edit' || tool === 'Write')) {
    compilePathPattern(spec.trim(), text); // throws on a bad glob
  }
  return spec === undefined || spec.trim() === '*' ? { text, tool } : { text, tool, specifier: spec.trim() };
}

/** Kairos's internal tool names, mapped to the rule vocabulary (Read ↔ read_file/list_files/grep, …). */
export function toolCallFor(name: string, input: Record<string, unknown>): ToolCall {
  const str = (k: string): string => (typeof input[k] === 'string' ? (input[k] as string) : '');
  switch (name) {
    case 'read_file':
    case 'list_files':
      return { tool: 'Read', path: str('path') || '.' };
    case 'grep':
      return { tool: 'Read', path: str('path') || '.' };
    case 'edit_file':
      return { tool: 'Edit', path: str('path') };
    case 'write_file':
      return { tool: 'Write', path: str('path') };
    case 'run_command':
      return { tool: 'Bash', command: str('command') };
    default: {
      const mcp = splitMcpName(name);
      return mcp ? { tool: 'mcp', ...mcp } : { tool: 'other', name };
    }
  }
}

function splitMcpName(name: string): { server: string; name: string } | undefined {
  if (!name.startsWith('mcp__')) return undefined;
  const rest = name.slice(5);
  const i = rest.indexOf('__');
  if (i <= 0) return { server: rest, name: '' };
  return { server: rest.slice(0, i), name: rest.slice(i + 2) };
}

/** How a call reads in rule syntax, e.g. `Bash(npm test)`, for audit and explain. */
export function formatToolCall(call: ToolCall): string {
  switch (call.tool) {
    case 'Bash':
      return `Bash(${call.command})`;
    case 'Read':
    case 'Edit':
    case 'Write':
      return `${call.tool}(${call.path})`;
    case 'mcp':
      return call.name ? `mcp__${call.server}__${call.name}` : `mcp__${call.server}`;
    case 'other':
      return call.name;
  }
}

/** Parses `Bash(npm test)`, `Read(src/a.ts)`, `mcp__s__t` or a bare Kairos tool name into a call. */
export function parseToolCall(text: string): ToolCall {
  const m = RULE_RE.exec(text.trim());
  if (!m) {
    const open = /^[A-Za-z][A-Za-z0-9_-]*\(/.test(text.trim()) && !text.trim().endsWith(')');
    throw new RuleSyntaxError(
      open
        ? `'${text}' has no closing parenthesis — write the whole call, e.g. "Bash(npm test)" or "Read(src/index.ts)"`
        : `'${text}' is not a tool call — write e.g. "Bash(npm test)" or "Read(src/index.ts)"`,
    );
  }
  const tool = m[1]!;
  const arg = m[2];
  if (tool === 'Bash') return { tool: 'Bash', command: arg ?? '' };
  if (tool === 'Read' || tool === 'Edit' || tool === 'Write') {
    if (arg === undefined) throw new RuleSyntaxError(`'${text}' needs a path — write e.g. "${tool}(src/index.ts)"`);
    return { tool, path: arg };
  }
  const mcp = splitMcpName(tool);
  if (mcp) return { tool: 'mcp', ...mcp };
  return { tool: 'other', name: tool };
}

// ---------------------------------------------------------------------------------------------
// Commands

export { renderTokens };

/**
 * The literal parts of a rule specifier, read with the same grammar as commands, so `npm   test`
 * and `"npm" test` equal `npm test`. A piece that is not plain words (an operator, a syntax error)
 * is compared with its whitespace collapsed.
 */
function normaliseLiteral(s: string): string {
  const lead = /^\s/.test(s) ? ' ' : '';
  const trail = /\s$/.test(s) && s.trim() !== '' ? ' ' : '';
  const body = s.trim();
  if (body === '') return s === '' ? '' : ' ';
  const words = literalWords(body);
  return lead + (words ? renderTokens(words) : body.replace(/\s+/g, ' ')) + trail;
}

/** The words of a plain command (no operators, substitutions or variables), or undefined. */
function literalWords(body: string): string[] | undefined {
  const parsed = parseBash(body);
  if (!parsed.ok) return undefined;
  try {
    const root = parsed.tree.rootNode;
    const cmd = root.namedChildren[0];
    if (root.hasError || root.namedChildCount !== 1 || cmd?.type !== 'command') return undefined;
    const words: string[] = [];
    for (const c of cmd.children) {
      const node = c?.type === 'command_name' ? c.namedChildren[0] : c;
      if (!node || !WORD_TYPES.has(node.type)) return undefined;
      const w = evaluateWord(node);
      if (!w.literal || w.problems.length) return undefined;
      words.push(...w.shown);
    }
    return words;
  } finally {
    parsed.tree.delete();
  }
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const commandMatchers = new Map<string, (cmd: string) => boolean>();

function compileCommandPattern(spec: string): (cmd: string) => boolean {
  const cached = commandMatchers.get(spec);
  if (cached) return cached;
  let fn: (cmd: string) => boolean;
  if (spec.endsWith(':*') && !spec.slice(0, -2).includes('*')) {
    const prefix = normaliseLiteral(spec.slice(0, -2)).trimEnd();
    fn = (cmd) => cmd === prefix || cmd.startsWith(prefix + ' ');
  } else if (spec.includes('*')) {
    const pieces = spec.split('*');
    let source = pieces.map((p) => escapeRe(normaliseLiteral(p))).join('[\\s\\S]*');
    // Claude Code: `ls *` also matches a bare `ls` when the trailing " *" is the only wildcard.
    if (pieces.length === 2 && spec.endsWith(' *')) {
      source = `${escapeRe(normaliseLiteral(pieces[0]!).trimEnd())}(?: [\\s\\S]*)?`;
    }
    const re = new RegExp(`^${source}$`);
    fn = (cmd) => re.test(cmd);
  } else {
    const exact = normaliseLiteral(spec).trim();
    fn = (cmd) => cmd === exact;
  }
  commandMatchers.set(spec, fn);
  return fn;
}

/** Whether a Bash rule covers one simple command, as shell.ts renders it. */
export function ruleMatchesCommand(rule: Rule, command: string): boolean {
  if (rule.tool !== 'Bash') return false;
  if (rule.specifier === undefined) return true;
  return compileCommandPattern(rule.specifier)(command);
}

/**
 * How much of a command a matching Bash rule spells out: the length of its text before the first
 * wildcard (all of it for an exact rule, Infinity when that is the whole command). `Bash(sudo
 * apt-get update)` names the `apt-get update` that sudo runs; `Bash(timeout:*)` names only timeout,
 * and `Bash(*)` names nothing. Used to tell whether a rule allowing a wrapper also allows what it runs.
 */
export function ruleNamedLength(rule: Rule, command: string): number {
  const named = ruleLiteralPrefix(rule).length;
  return named > 0 && named >= command.length ? Number.POSITIVE_INFINITY : named;
}

const literalPrefixes = new Map<string, string>();

/** A Bash rule's text before its first wildcard, normalised like commands ('' for `Bash` and `Bash(*)`). */
export function ruleLiteralPrefix(rule: Rule): string {
  if (rule.tool !== 'Bash' || rule.specifier === undefined) return '';
  const spec = rule.specifier;
  let prefix = literalPrefixes.get(spec);
  if (prefix === undefined) {
    const literal = spec.endsWith(':*') && !spec.slice(0, -2).includes('*') ? spec.slice(0, -2) : spec.split('*')[0]!;
    prefix = normaliseLiteral(literal).trimEnd();
    literalPrefixes.set(spec, prefix);
  }
  return prefix;
}

// ---------------------------------------------------------------------------------------------
// Paths

/** A file a call touches: relative to the repository root when inside it, and absolute. */
export interface PathTarget {
  /** POSIX-style path relative to the root, or null when the file is outside it. */
  rel: string | null;
  abs: string;
}

type PathMatcher = (t: PathTarget, home: string) => boolean;
const pathMatchers = new Map<string, PathMatcher>();

function compilePathPattern(spec: string, ruleText = spec): PathMatcher {
  const cached = pathMatchers.get(spec);
  if (cached) return cached;
  const opts = { dot: true, strictBrackets: true } as const;
  let p = spec;
  const dirOnly = p.endsWith('/') && p.length > 1;
  if (dirOnly) p = p.slice(0, -1);
  let kind: 'abs' | 'home' | 'rel';
  let anchored = true;
  if (p.startsWith('//')) {
    kind = 'abs';
    p = p.slice(2);
  } else if (p === '~' || p.startsWith('~/')) {
    kind = 'home';
    p = p.slice(2);
  } else {
    kind = 'rel';
    if (p.startsWith('./')) p = p.slice(2);
    else if (p.startsWith('/')) p = p.slice(1);
    // gitignore: a pattern with no slash (other than a trailing one) matches at any depth.
    else anchored = p.includes('/');
  }
  let match: (s: string) => boolean;
  try {
    const exact = picomatch(p || '**', opts);
    const under = picomatch(`${p || ''}${p ? '/' : ''}**`, opts);
    const base = !anchored ? picomatch(`**/${p}`, opts) : undefined;
    const baseUnder = !anchored ? picomatch(`**/${p}/**`, opts) : undefined;
    // A matched directory covers what is inside it, as in .gitignore.
    match = (s) => (!dirOnly && exact(s)) || under(s) || (base !== undefined && ((!dirOnly && base(s)) || baseUnder!(s)));
  } catch (e) {
    throw new RuleSyntaxError(`'${ruleText}': '${spec}' is not a valid glob (${messageOf(e).split('\n')[0]}) — check its brackets`, { cause: e });
  }
  const fn: PathMatcher = (t, home) => {
    if (kind === 'rel') return t.rel !== null && match(t.rel);
    const root = kind === 'home' ? home.replace(/\/+$/, '') : '';
    const abs = t.abs.split(path.sep).join('/');
    if (!abs.startsWith(root + '/')) return false;
    return match(abs.slice(root.length + 1) || '.');
  };
  pathMatchers.set(spec, fn);
  return fn;
}

export type PathTool = 'Read' | 'Edit' | 'Write';

/** Whether a path rule covers an access. Edit and Write rules both cover both writing tools. */
export function ruleMatchesPath(rule: Rule, tool: PathTool, target: PathTarget, home: string): boolean {
  const writes = tool === 'Edit' || tool === 'Write';
  if (tool === 'Read' ? rule.tool !== 'Read' : !(writes && (rule.tool === 'Edit' || rule.tool === 'Write'))) return false;
  if (rule.specifier === undefined) return true;
  return compilePathPattern(rule.specifier, rule.text)(target, home);
}

export function ruleMatchesMcp(rule: Rule, server: string, name: string): boolean {
  const r = splitMcpName(rule.tool);
  if (!r || r.server !== server) return false;
  return r.name === '' || r.name === '*' || r.name === name;
}

/** A rule for a tool with no specifier semantics of its own (e.g. `WebFetch`), by name only. */
export function ruleMatchesOther(rule: Rule, name: string): boolean {
  return rule.tool === name && rule.specifier === undefined;
}
