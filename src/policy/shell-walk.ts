import { childrenOf, namedChildrenOf, type Node } from './shell-grammar.js';
import { readAsBash } from './shell-reread.js';
import { readRedirects, type Walker } from './shell-redirects.js';
import type { CommandAnalysis, SimpleCommand } from './shell.js';
import { arithmeticProblems, clip, evaluateWord, renderTokens, WORD_TYPES, type Nested, type Word } from './shell-words.js';
import { unwrap, type Origin } from './shell-wrappers.js';
import { isDangerousVariable } from './shell-variables.js';

/**
 * Walks bash's syntax tree to every simple command that would run, wherever it is: lists,
 * pipelines, subshells, groups, function bodies, if/for/while/case bodies, command and process
 * substitutions (also inside strings, parameter defaults and arithmetic), here-document bodies,
 * and the commands wrappers run (`time -p curl x`, `sh -c '…'`, `find -exec`). Anything it cannot
 * follow is recorded as a problem, which makes the whole command ask.
 */

/** Commands inside commands (substitutions, wrappers, `sh -c` strings) deeper than this ask. */
const MAX_DEPTH = 10;
/** Syntax nested deeper than this (if inside while inside …) asks, so hostile input cannot exhaust the stack. */
const MAX_SYNTAX_DEPTH = 200;

interface Ctx {
  out: CommandAnalysis;
  origin: Origin;
  /** How many commands this one is inside. */
  depth: number;
  /** Wrappers around the commands found here, outermost first. */
  wrappers: string[];
  /** For commands parsed out of another command's string (`sh -c`), the command that runs them. */
  via?: SimpleCommand['via'];
  /** A `cd` ran earlier in the command line. */
  cd: { after: boolean };
  /** Positions of `{` characters the grammar would misread; see analyseSource. */
  masked: ReadonlySet<number>;
}

export function analyseSource(source: string, origin: Origin, depth: number, out: CommandAnalysis, wrappers: string[] = [], via?: SimpleCommand['via'], cd = { after: false }): void {
  if (depth > MAX_DEPTH) {
    out.problems.push('commands are nested too deeply to check');
    return;
  }
  if (source.includes('\0')) {
    out.problems.push('the command contains a NUL byte');
    return;
  }
  const read = readAsBash(source);
  if (!read.ok) {
    out.problems.push(read.error);
    return;
  }
  try {
    const root = read.tree.rootNode;
    if (root.hasError) out.problems.push(`it is not valid shell syntax${errorNear(root)}`);
    if (read.skipped !== undefined) out.problems.push(`the parser skipped '${clip(read.skipped, 40)}', which bash would read`);
    walk(root, { out, origin, depth, wrappers, ...(via ? { via } : {}), cd, masked: read.masked }, 0);
  } finally {
    read.tree.delete();
  }
}

function errorNear(root: Node): string {
  const bad = root.descendantsOfType('ERROR')[0] ?? findMissing(root);
  return bad ? ` near '${clip(bad.text || bad.parent?.text || '', 40)}'` : '';
}

function findMissing(n: Node): Node | undefined {
  if (n.isMissing) return n;
  for (const c of childrenOf(n)) {
    const m = findMissing(c);
    if (m) return m;
  }
  return undefined;
}

const CONTAINERS = new Set(['program', 'list', 'pipeline', 'subshell', 'do_group', 'else_clause', 'elif_clause', 'negated_command', 'if_statement', 'while_statement', 'ERROR']);

function walk(node: Node, ctx: Ctx, syntaxDepth: number): void {
  if (syntaxDepth > MAX_SYNTAX_DEPTH) {
    ctx.out.problems.push('the command is nested too deeply to check');
    return;
  }
  const deeper = (n: Node, c: Ctx = ctx): void => walk(n, c, syntaxDepth + 1);
  switch (node.type) {
    case 'comment':
      return;
    case 'command':
      return command(node, [], ctx);
    case 'redirected_statement':
      return redirected(node, ctx, deeper);
    case 'compound_statement':
      if (childrenOf(node)[0]?.type === '((') {
        arithmeticProblems(namedChildrenOf(node), node.text, ctx.out); // `(( … ))`
        for (const n of nestedIn(node)) substitution(n, ctx);
        return;
      }
      return namedChildrenOf(node).forEach((c) => deeper(c));
    case 'function_definition':
      for (const c of namedChildrenOf(node)) if (c.id !== node.childForFieldName('name')?.id) deeper(c);
      return;
    case 'for_statement':
    case 'case_statement':
    case 'case_item':
      for (const c of namedChildrenOf(node)) {
        if (WORD_TYPES.has(c.type)) words([c], ctx);
        else if (c.type !== 'variable_name' && c.type !== 'extglob_pattern') deeper(c);
      }
      return;
    case 'c_style_for_statement':
      for (const c of namedChildrenOf(node)) {
        if (c.type === 'do_group' || c.type === 'compound_statement') deeper(c);
        else {
          arithmeticProblems([c], c.text, ctx.out);
          for (const n of nestedIn(c)) substitution(n, ctx);
        }
      }
      return;
    case 'test_command':
      return testCommand(node, ctx);
    case 'declaration_command':
    case 'unset_command':
      return declaration(node, ctx);
    case 'variable_assignment':
    case 'variable_assignments':
      assignments(node.type === 'variable_assignment' ? [node] : namedChildrenOf(node), ctx, true);
      return;
    default:
      if (CONTAINERS.has(node.type)) {
        for (const c of childrenOf(node)) {
          if (c.isNamed) deeper(c);
          // `ls ;; pwd`: bash refuses a case terminator outside case; the grammar does not
          else if (/^;;&?$|^;&$/.test(c.type)) ctx.out.problems.push(`'${c.type}' outside a case statement is a syntax error to bash`);
        }
        return;
      }
      if (WORD_TYPES.has(node.type)) return void words([node], ctx);
      if (node.type === 'command_name') return command(node, [], ctx);
      ctx.out.problems.push(`'${clip(node.text)}' is shell syntax (${node.type}) that cannot be checked`);
      namedChildrenOf(node).forEach((c) => deeper(c));
  }
}

/**
 * Evaluates words, recording their problems; the commands in their substitutions are walked now,
 * or, when `later` is given, collected there to be walked after the command they belong to.
 */
function words(nodes: Node[], ctx: Ctx, later?: Nested[]): Word[] {
  const ws = nodes.map((n) => evaluateWord(n, ctx.masked));
  for (const w of ws) {
    ctx.out.problems.push(...w.problems);
    if (later) later.push(...w.nested);
    else for (const n of w.nested) substitution(n, ctx);
  }
  return ws;
}

function substitution(n: Nested, ctx: Ctx): void {
  if (ctx.depth + 1 > MAX_DEPTH) {
    ctx.out.problems.push('commands are nested too deeply to check');
    return;
  }
  const inner: Ctx = { ...ctx, origin: n.kind, depth: ctx.depth + 1, wrappers: [] };
  delete inner.via;
  for (const c of namedChildrenOf(n.node)) walk(c, inner, 0);
}

/** Substitutions anywhere under a node that is not a word (arithmetic, for headers). */
function nestedIn(node: Node): Nested[] {
  return node.descendantsOfType(['command_substitution', 'process_substitution'])
    .filter((n): n is Node => n !== null)
    .filter((n) => !hasAncestorBetween(n, node, ['command_substitution', 'process_substitution']))
    .map((n) => ({ node: n, kind: n.type === 'process_substitution' ? 'process-substitution' : 'substitution' }) as Nested);
}

function hasAncestorBetween(n: Node, top: Node, types: string[]): boolean {
  for (let p = n.parent; p && p.id !== top.id; p = p.parent) if (types.includes(p.type)) return true;
  return false;
}

function redirected(node: Node, ctx: Ctx, deeper: (n: Node) => void): void {
  const body = node.childForFieldName('body');
  const redirectNodes = childrenOf(node).filter((c) => c.isNamed && c !== body && c.id !== body?.id);
  if (body?.type === 'command') return command(body, redirectNodes, ctx);
  if (body) deeper(body);
  const part = blankPart(ctx);
  readRedirects(redirectNodes, part, walker(ctx));
  if (part.redirects.length || part.problems.length) ctx.out.parts.push(part);
}

/** What the redirection reader may do: evaluate words (walking their substitutions) and walk statements. */
function walker(ctx: Ctx): Walker {
  return { words: (nodes) => words(nodes, ctx), walk: (n) => walk(n, ctx, 1), problem: (p) => ctx.out.problems.push(p) };
}

function blankPart(ctx: Ctx): SimpleCommand {
  return { text: '', argv: [], wrappers: [...ctx.wrappers], assignments: [], redirects: [], origin: ctx.origin, afterCd: ctx.cd.after, problems: [], constructs: [], runtimeWords: false, knownPrefix: '', mayRunArguments: false };
}

function command(node: Node, extraRedirects: Node[], ctx: Ctx): void {
  const part = blankPart(ctx);
  const argWords: Word[] = [];
  const redirectNodes: Node[] = [];
  const later: Nested[] = []; // substitutions in the words, walked after the command itself is recorded
  for (const c of childrenOf(node)) {
    if (c.type === 'variable_assignment') part.assignments.push(...assignments([c], ctx, false));
    else if (c.type === 'command_name') {
      // an unquoted `{` or `}` as a command is a reserved word out of place: bash refuses the line
      if (/^[{}]$/.test(c.text) && !ctx.masked.has(c.startIndex)) part.problems.push(`'${c.text}' out of place is a syntax error to bash`);
      argWords.push(...words(namedChildrenOf(c), ctx, later));
    }
    else if (c.type === 'file_redirect' || c.type === 'herestring_redirect' || c.type === 'heredoc_redirect') redirectNodes.push(c);
    else if (WORD_TYPES.has(c.type)) argWords.push(...words([c], ctx, later));
    else if (c.type !== 'comment') {
      part.problems.push(`'${clip(c.text)}' in a command is shell syntax the checker does not follow`);
      if (c.isNamed) walk(c, ctx, 1); // still find the commands inside it, so a deny rule holds
    }
  }
  const stdin = readRedirects([...redirectNodes, ...extraRedirects], part, walker(ctx));
  const argv = argWords.flatMap((w) => w.shown);
  const literal = argWords.flatMap((w) => w.shown.map(() => w.literal && !w.glob));
  if (argv.length === 0) {
    if (part.redirects.length || part.problems.length || part.assignments.length) ctx.out.parts.push(part);
    for (const n of later) substitution(n, ctx);
    return;
  }
  const idx = emit(part, argv, literal, ctx);
  for (const n of later) substitution(n, ctx);
  const reader = stdinReader(ctx.out, idx);
  if (!reader?.readsStdin) return;
  const rd = reader.readsStdin;
  const from = stdin?.kind === 'heredoc' ? 'a here-document' : 'a here-string';
  if (!stdin && !rd.always) return;
  if (!stdin) reader.constructs.push({ what: `'${rd.program}' runs the ${rd.shell ? 'commands' : 'code'} it reads from standard input, which cannot be checked`, needed: reader.text.length });
  else if (!rd.shell) reader.constructs.push({ what: `'${rd.program}' runs code from ${from}, which cannot be checked`, needed: reader.text.length });
  else if (stdin.body === undefined) reader.problems.push(`'${rd.program}' runs ${from} that is only known at run time`);
  else {
    // the body is a script: its commands are checked like any others, and no rule naming the shell covers them
    const via = { part: ctx.out.parts.indexOf(reader), offset: reader.text.length, needed: Number.POSITIVE_INFINITY, suffix: false };
    analyseSource(stdin.body, 'here-document', ctx.depth + 1, ctx.out, [...reader.wrappers, rd.program], via, ctx.cd);
  }
}

/** The command that reads standard input: the innermost one of the wrapper chain started at `idx`. */
function stdinReader(out: CommandAnalysis, idx: number): SimpleCommand | undefined {
  let index = idx;
  for (let k = idx + 1; k < out.parts.length; k++) if (out.parts[k]!.via?.part === index && out.parts[k]!.via!.suffix) index = k;
  return out.parts[index];
}

/**
 * Records one simple command and, through unwrap(), what it runs: an inner command (`timeout 5
 * cmd`), a script (`sh -c '…'`), or code no rule can see. Returns its index in the parts.
 */
function emit(part: SimpleCommand, argv: string[], literal: boolean[], ctx: Ctx): number {
  // where word i starts in the text, and how much of the text a rule must name to name words up to i
  const offsetOf = (i: number): number => (i === 0 ? 0 : renderTokens(argv.slice(0, i)).length + 1);
  const through = (i: number): number => renderTokens(argv.slice(0, i + 1)).length;
  part.argv = argv;
  part.text = renderTokens(argv);
  part.runtimeWords = literal.some((l) => !l);
  const firstRuntime = literal.indexOf(false);
  part.knownPrefix = firstRuntime < 0 ? part.text : renderTokens(argv.slice(0, firstRuntime));
  if (ctx.via) part.via = ctx.via;
  if (!literal[0]) part.problems.push(`the program to run ('${argv[0]}') is only known at run time`);
  // bash looks such a name up as one word; no rule is written for it, and it reads as something else
  else if (/[\s\p{Cc}\p{Cf}\p{Z}]/u.test(argv[0]!)) part.problems.push(`the program name ${JSON.stringify(argv[0])} has spaces or control characters in it`);
  const u = literal[0] ? unwrap(argv, literal) : { constructs: [], problems: [], mayRunArguments: false };
  part.problems.push(...u.problems);
  part.mayRunArguments = u.mayRunArguments;
  for (const k of u.constructs) part.constructs.push({ what: k.what, needed: through(Math.min(k.upTo, argv.length) - 1) });
  if ('readsStdin' in u && u.readsStdin) part.readsStdin = u.readsStdin; // what it reads is settled in command()
  if (['cd', 'pushd', 'popd'].includes(argv[0]!)) ctx.cd.after = true;
  const index = ctx.out.parts.push(part) - 1;

  if ('inner' in u && u.inner) {
    const inner = u.inner;
    if (ctx.depth + 1 > MAX_DEPTH) {
      ctx.out.problems.push('commands are nested too deeply to check');
      return index;
    }
    const prefix = inner.prefix ?? [];
    const innerArgv = [...prefix, ...argv.slice(inner.start, inner.end)];
    const innerLiteral = [...prefix.map(() => true), ...literal.slice(inner.start, inner.end)];
    if (inner.placeholder !== undefined) {
      // `find -exec sh -c {} ;` runs each file name: a word holding the placeholder is a run-time word
      const holder = inner.placeholder;
      innerArgv.forEach((w, k) => {
        if (k >= prefix.length && w.includes(holder)) innerLiteral[k] = false;
      });
    }
    if (innerArgv.length === 0) {
      innerArgv.push('echo'); // `xargs` alone runs echo
      innerLiteral.push(true);
    }
    if (inner.fromInput) {
      innerArgv.push('…'); // xargs adds words from its input: a run-time word, also for what the command runs
      innerLiteral.push(false);
    }
    const child: SimpleCommand = { ...blankPart(ctx), origin: inner.origin, wrappers: [...part.wrappers, inner.wrapper], assignments: inner.assignments, afterCd: ctx.cd.after };
    const childCtx: Ctx = { ...ctx, origin: inner.origin, depth: ctx.depth + 1, wrappers: child.wrappers, via: { part: index, offset: offsetOf(inner.start), needed: through(inner.start), suffix: inner.end === argv.length && inner.origin !== 'find -exec' && !inner.prefix && !inner.fromInput } };
    emit(child, innerArgv, innerLiteral, childCtx);
  }
  if ('script' in u && u.script) {
    const s = u.script;
    analyseSource(s.source, s.origin, ctx.depth + 1, ctx.out, [...part.wrappers, s.wrapper], { part: index, offset: offsetOf(s.at), needed: through(s.at), suffix: false }, ctx.cd);
  }
  return index;
}

/** `[ … ]` and `[[ … ]]`: a command of their own (test), with the words of the expression as arguments. */
function testCommand(node: Node, ctx: Ctx): void {
  const argv: string[] = [];
  const literal: boolean[] = [];
  const part = blankPart(ctx);
  const double = childrenOf(node)[0]?.text === '[[';
  const visit = (n: Node): void => {
    if (WORD_TYPES.has(n.type)) {
      const w = words([n], ctx)[0]!;
      for (const s of w.shown) {
        argv.push(s);
        literal.push(w.literal && !w.glob);
      }
      return;
    }
    if (!n.isNamed || n.type === 'test_operator' || n.type === 'regex' || n.type === 'extglob_pattern') {
      argv.push(n.text);
      literal.push(true);
      return;
    }
    if (double && n.type === 'binary_expression') {
      const op = n.childForFieldName('operator')?.text ?? childrenOf(n).find((c) => c.type === 'test_operator')?.text;
      if (op && /^-(?:eq|ne|lt|le|gt|ge)$/.test(op) && namedChildrenOf(n).some((c) => c.type !== 'test_operator' && !/^-?\d+$/.test(c.text))) {
        part.problems.push(`'${clip(n.text)}' compares as arithmetic, which evaluates variable values and can run commands hidden in them`);
      }
    }
    childrenOf(n).forEach(visit);
  };
  childrenOf(node).forEach(visit);
  emit(part, argv, literal, ctx);
}

/** `export A=1`, `declare -x B`, `local c`, `unset d`: a command whose arguments may be assignments. */
function declaration(node: Node, ctx: Ctx): void {
  const argv: string[] = [];
  const literal: boolean[] = [];
  const part = blankPart(ctx);
  for (const c of childrenOf(node)) {
    if (c.type === 'variable_assignment') {
      const [name] = assignments([c], ctx, true);
      argv.push(`${name ?? '?'}=…`);
      literal.push(true);
    } else if (WORD_TYPES.has(c.type)) {
      const w = words([c], ctx)[0]!;
      w.shown.forEach((s) => (argv.push(s), literal.push(w.literal && !w.glob)));
    } else if (c.type !== 'comment') {
      argv.push(c.text);
      literal.push(true);
    }
  }
  emit(part, argv, literal, ctx);
}

/**
 * Assignments: their values' substitutions run, a subscript in the name is arithmetic, and a
 * variable like PATH or LD_PRELOAD set for the rest of the command line changes what later runs.
 */
function assignments(nodes: Node[], ctx: Ctx, standalone: boolean): string[] {
  const names: string[] = [];
  for (const a of nodes) {
    const nameNode = a.childForFieldName('name');
    const value = a.childForFieldName('value');
    const name = nameNode?.type === 'subscript' ? (nameNode.childForFieldName('name')?.text ?? nameNode.text) : (nameNode?.text ?? '');
    if (nameNode?.type === 'subscript') {
      const index = nameNode.childForFieldName('index');
      if (index && !/^\d+$/.test(index.text)) {
        if (index.type === 'command_substitution') words([index], ctx);
        else ctx.out.problems.push(`'${clip(a.text)}' assigns through an array index computed from variables, which can run commands hidden in their values`);
      }
    }
    if (value) words(value.type === 'array' ? namedChildrenOf(value) : [value], ctx);
    if (standalone && isDangerousVariable(name)) ctx.out.problems.push(`'${clip(a.text)}' sets ${name}, which changes what later commands run`);
    names.push(name);
  }
  return names;
}
