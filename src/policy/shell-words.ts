import { BraceLimitError, expandBraces, type Atom } from './shell-brace.js';
import { childrenOf, namedChildrenOf, type Node } from './shell-grammar.js';

/**
 * What bash makes of one word of a command: quotes removed, escapes and `$'…'` decoded, braces
 * expanded. A word with a run-time part (a variable, a substitution, a glob) has no value anyone
 * can know now; it is shown as written, with substitution bodies collapsed to `$(…)` (those bodies
 * are commands of their own, which the walker checks separately).
 */
export interface Word {
  /** The words bash produces (several after brace expansion), as rules see them. */
  shown: string[];
  /** Every part is known now: `shown` is exactly what the program receives. */
  literal: boolean;
  /** An unquoted `*`, `?` or `[`: the shell replaces the word with matching file names. */
  glob: boolean;
  /** Substitutions inside the word: commands that run before the program does. */
  nested: Nested[];
  /** Reasons the word cannot be understood safely; each makes the command ask. */
  problems: string[];
}

export interface Nested {
  node: Node;
  kind: 'substitution' | 'process-substitution';
}

/** Node types that are one word of a command (an argument, a program name, a redirection target). */
export const WORD_TYPES = new Set([
  'word', 'number', 'string', 'raw_string', 'ansi_c_string', 'translated_string', 'concatenation', 'simple_expansion',
  'expansion', 'command_substitution', 'process_substitution', 'arithmetic_expansion', 'brace_expression',
]);

/**
 * `masked`: positions of `{` characters the caller replaced with a letter before parsing (bash reads
 * them as braces, tree-sitter-bash as group openers); they are put back here as unquoted braces.
 */
export function evaluateWord(node: Node, masked: ReadonlySet<number> = new Set()): Word {
  const atoms: Atom[] = [];
  const w: Word = { shown: [], literal: true, glob: false, nested: [], problems: [] };
  collectAtoms(node, atoms, w, masked);
  let words: Atom[][];
  try {
    words = expandBraces(atoms);
  } catch (e) {
    if (!(e instanceof BraceLimitError)) throw e;
    w.problems.push(e.message);
    words = [atoms];
  }
  w.shown = words.map((word) => word.map((a) => a.text).join(''));
  // `$'a\0b'` is `a` to bash: the C string ends at the NUL.
  w.shown = w.shown.map((s) => (s.includes('\0') ? s.slice(0, s.indexOf('\0')) : s));
  w.glob = atoms.some((a) => !a.quoted && !a.dynamic && /[*?[]/.test(a.text));
  return w;
}

const lit = (atoms: Atom[], text: string, quoted: boolean): void => {
  for (const ch of text) atoms.push({ text: ch, special: !quoted && (ch === '{' || ch === ',' || ch === '}'), quoted });
};

const dyn = (atoms: Atom[], w: Word, text: string): void => {
  atoms.push({ text, special: false, dynamic: true });
  w.literal = false;
};

function collectAtoms(node: Node, atoms: Atom[], w: Word, masked: ReadonlySet<number>): void {
  switch (node.type) {
    case 'word':
    case 'number':
    case 'brace_expression':
      if (node.namedChildCount > 0 && namedChildrenOf(node).some((c) => c.type !== 'number')) return collectParts(node, atoms, w, masked);
      return unquotedWord(node.text, node.startIndex, atoms, masked);
    case 'raw_string':
      return lit(atoms, node.text.slice(1, -1), true);
    case 'ansi_c_string':
      return lit(atoms, decodeAnsiC(node.text.slice(2, -1)), true);
    case 'string':
    case 'translated_string':
      return doubleQuoted(node, atoms, w, masked);
    case 'concatenation':
      return collectParts(node, atoms, w, masked);
    case 'simple_expansion':
      return dyn(atoms, w, node.text);
    case 'expansion':
      expansionProblems(node, w);
      findNested(node, w);
      return dyn(atoms, w, containsSubstitution(node) ? '${…}' : node.text);
    case 'command_substitution':
      w.nested.push({ node, kind: 'substitution' });
      return dyn(atoms, w, '$(…)');
    case 'process_substitution':
      w.nested.push({ node, kind: 'process-substitution' });
      return dyn(atoms, w, `${node.text[0]}(…)`);
    case 'arithmetic_expansion':
      arithmeticProblems(namedChildrenOf(node), node.text, w);
      findNested(node, w);
      return dyn(atoms, w, '$((…))');
    default:
      w.problems.push(`'${clip(node.text)}' is shell syntax (${node.type}) that cannot be checked`);
      return dyn(atoms, w, node.text);
  }
}

function collectParts(node: Node, atoms: Atom[], w: Word, masked: ReadonlySet<number>): void {
  for (const c of childrenOf(node)) {
    if (c.isNamed) collectAtoms(c, atoms, w, masked);
    else unquotedWord(c.text, c.startIndex, atoms, masked);
  }
}

/** An unquoted word: a backslash quotes the next character, and a backslash-newline disappears. */
function unquotedWord(text: string, start: number, atoms: Atom[], masked: ReadonlySet<number>): void {
  for (let i = 0; i < text.length; i++) {
    const ch = masked.has(start + i) ? '{' : text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      i++;
      if (text[i] !== '\n') lit(atoms, text[i]!, true);
    } else lit(atoms, ch, false);
  }
}

/**
 * `"…"`: inside, a backslash only quotes `$`, backtick, `"`, `\` and newline. Text between the
 * parsed parts is taken from the source, so no character can fall between two nodes unseen.
 */
function doubleQuoted(node: Node, atoms: Atom[], w: Word, masked: ReadonlySet<number>): void {
  const src = node.text;
  const base = node.startIndex;
  let pos = src.startsWith('$"') ? 2 : 1;
  const end = src.length - 1;
  const text = (from: number, to: number): void => {
    const s = src.slice(from, to);
    for (let i = 0; i < s.length; i++) {
      if (s[i] === '\\' && i + 1 < s.length && '$`"\\\n'.includes(s[i + 1]!)) {
        i++;
        if (s[i] !== '\n') lit(atoms, s[i]!, true);
      } else lit(atoms, s[i]!, true);
    }
  };
  for (const c of childrenOf(node)) {
    const from = c.startIndex - base;
    const to = c.endIndex - base;
    if (from < pos || to > end) continue; // the quotes themselves
    text(pos, from);
    if (c.type === 'string_content' || !c.isNamed) text(from, to);
    else if (c.type === 'string') doubleQuoted(c, atoms, w, masked); // `$"…"` parsed as `$` + string
    else collectAtoms(c, atoms, w, masked);
    pos = to;
  }
  text(pos, end);
  // tree-sitter reads backticks inside double quotes as command substitutions; one it did not
  // read as such means the parser and bash disagree about this word
  if (src.includes('`') && !node.descendantsOfType('command_substitution').some((n) => n?.text.startsWith('`'))) {
    w.problems.push(`'${clip(src)}' has a backtick the parser did not read as a substitution`);
  }
}

function containsSubstitution(node: Node): boolean {
  return node.descendantsOfType(['command_substitution', 'process_substitution']).length > 0;
}

/** Substitutions anywhere inside a node (the outermost ones: their own insides are walked as commands). */
function findNested(node: Node, w: Word): void {
  for (const c of namedChildrenOf(node)) {
    if (c.type === 'command_substitution') w.nested.push({ node: c, kind: 'substitution' });
    else if (c.type === 'process_substitution') w.nested.push({ node: c, kind: 'process-substitution' });
    else findNested(c, w);
  }
}

/**
 * `${…}` forms that evaluate code hidden in a variable's value: `${x@P}` expands the value as a
 * prompt (running any `$(…)` in it), `${!x}` dereferences a name that may carry an array subscript,
 * and subscripts and `${x:off:len}` are arithmetic, which expands `a[$(…)]` found in a value.
 */
function expansionProblems(node: Node, w: Word): void {
  const kids = childrenOf(node);
  const text = clip(node.text);
  for (let i = 0; i < kids.length; i++) {
    const k = kids[i]!;
    if (!k.isNamed && k.text === '@' && kids[i + 1]?.text === 'P') w.problems.push(`'${text}' expands a variable as a prompt, which runs commands inside it`);
    if (!k.isNamed && k.text === '!' && i === 1) w.problems.push(`'${text}' is an indirect expansion, which can run commands hidden in a variable's value`);
    if (!k.isNamed && k.text === ':' && kids.slice(i + 1, -1).some((n) => n.type !== 'number' && n.text !== ':')) {
      w.problems.push(`'${text}' takes a substring at an offset computed from variables, which can run commands hidden in their values`);
    }
    if (k.type === 'subscript') {
      const index = k.childForFieldName('index');
      if (index && !/^(?:\d+|@|\*)$/.test(index.text) && index.type !== 'command_substitution') {
        w.problems.push(`'${text}' computes an array index from variables, which can run commands hidden in their values`);
      }
    }
  }
}

const ARITH_VARIABLES = new Set(['variable_name', 'simple_expansion', 'expansion', 'subscript']);

/** Arithmetic that reads a variable evaluates the variable's value as an expression, subscripts included. */
export function arithmeticProblems(nodes: readonly Node[], text: string, w: { problems: string[] }): void {
  const stack = [...nodes];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.type === 'command_substitution' || n.type === 'process_substitution') continue; // walked as commands
    if (ARITH_VARIABLES.has(n.type)) {
      w.problems.push(`the arithmetic '${clip(text)}' reads a variable, whose value is evaluated and can run commands`);
      return;
    }
    stack.push(...namedChildrenOf(n));
  }
}

const C_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };

/** The escapes of bash's `$'…'` quoting. */
export function decodeAnsiC(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== '\\' || i + 1 >= body.length) {
      out += ch;
      continue;
    }
    const next = body[++i]!;
    let m: RegExpExecArray | null;
    if (C_ESCAPES[next] !== undefined) out += C_ESCAPES[next];
    else if ((m = /^[0-7]{1,3}/.exec(body.slice(i)))) {
      out += String.fromCharCode(parseInt(m[0], 8) & 0xff);
      i += m[0].length - 1;
    } else if (next === 'x' && (m = /^[0-9A-Fa-f]{1,2}/.exec(body.slice(i + 1)))) {
      out += String.fromCharCode(parseInt(m[0], 16));
      i += m[0].length;
    } else if ((next === 'u' || next === 'U') && (m = new RegExp(`^[0-9A-Fa-f]{1,${next === 'u' ? 4 : 8}}`).exec(body.slice(i + 1)))) {
      out += String.fromCodePoint(Math.min(parseInt(m[0], 16), 0x10ffff));
      i += m[0].length;
    } else if (next === 'c' && i + 1 < body.length) {
      out += String.fromCharCode(body.charCodeAt(++i) & 0x1f);
    } else out += `\\${next}`;
  }
  return out;
}

export function clip(s: string, n = 60): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}

/**
 * Words joined by single spaces, each quoted only when it must be, so that the same command written
 * with different spacing or quoting reads the same to rules.
 */
export function renderTokens(tokens: readonly string[]): string {
  return tokens.map(renderToken).join(' ');
}

export function renderToken(t: string): string {
  if (t === '') return "''";
  if (/^[A-Za-z0-9_@%+=:,./~^*{}$…-]+$/.test(t) || /^(?:[$<>]\(…\)|\$\(\(…\)\))$/.test(t)) return t;
  return `'${t.replace(/'/g, `'\\''`)}'`;
}
