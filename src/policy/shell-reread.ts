import { childrenOf, parseBash, type Node, type Tree } from './shell-grammar.js';

/**
 * Where tree-sitter-bash reads a command differently from bash, the command is adjusted so that
 * the tree says what bash will do, and parsed again:
 *  - a backslash-newline outside quotes and comments is removed (bash joins `cu\<newline>rl` into
 *    `curl`; the grammar reads two words);
 *  - a `{` glued to the next word (`{rm,-rf,x}`) is a word to bash, a group opener to the grammar:
 *    it is replaced by a letter of the same length, and word evaluation puts the brace back;
 *  - the reserved words `time` and `coproc` before a group (`time { curl x; }`) are read by the
 *    grammar as a command named time whose arguments are `{`, `curl`, …: they are blanked out
 *    (neither changes which commands run).
 * Each adjustment keeps to what bash itself does with the text, so nothing is hidden by it.
 */

export type Reread =
  | {
      ok: true;
      tree: Tree;
      text: string;
      masked: ReadonlySet<number>;
      /** Text the parse left out of every node (never whitespace): bash would read it, the checker cannot. */
      skipped?: string;
    }
  | { ok: false; error: string };

const MAX_ROUNDS = 16;

export function readAsBash(source: string): Reread {
  let text = source;
  const masked = new Set<number>();
  let joined = false;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const parsed = parseBash(text);
    if (!parsed.ok) return parsed;
    const root = parsed.tree.rootNode;
    const last = round === MAX_ROUNDS - 1;
    // lengths change only here, before any position is recorded
    const joins = joined || last ? [] : continuations(root, text);
    joined = true;
    if (joins.length) {
      parsed.tree.delete();
      text = removeAt(text, joins);
      continue;
    }
    const braces = last ? [] : gluedBraces(root, text);
    const keywords = last ? [] : keywordsBeforeGroups(root);
    if (braces.length || keywords.length) {
      parsed.tree.delete();
      const chars = text.split('');
      for (const p of braces) {
        masked.add(p);
        chars[p] = 'K';
      }
      for (const [from, to] of keywords) for (let k = from; k < to; k++) chars[k] = ' ';
      text = chars.join('');
      continue;
    }
    const skipped = skippedText(parsed.tree, text);
    return { ok: true, tree: parsed.tree, text, masked, ...(skipped !== undefined ? { skipped } : {}) };
  }
  return { ok: false, error: 'the command could not be read the way bash reads it' };
}

/** Positions of unquoted backslash-newlines (not in single quotes, `$'…'`, comments or here-document bodies). */
function continuations(root: Node, text: string): number[] {
  const found: number[] = [];
  for (let p = text.indexOf('\\\n'); p >= 0; p = text.indexOf('\\\n', p + 2)) {
    let n: Node | null = root.descendantForIndex(p, p + 1);
    let keep = false;
    for (; n; n = n.parent) {
      if (['raw_string', 'ansi_c_string', 'comment', 'heredoc_body', 'heredoc_content', 'string', 'translated_string'].includes(n.type)) {
        keep = true; // literal, or handled as bash does by word evaluation (double quotes)
        break;
      }
    }
    // a preceding backslash escapes this one: `\\` then a newline is no continuation
    let slashes = 0;
    for (let k = p - 1; k >= 0 && text[k] === '\\'; k--) slashes++;
    if (!keep && slashes % 2 === 0) found.push(p);
  }
  return found;
}

function removeAt(text: string, positions: number[]): string {
  let out = '';
  let from = 0;
  for (const p of positions) {
    out += text.slice(from, p);
    from = p + 2;
  }
  return out + text.slice(from);
}

function gluedBraces(root: Node, text: string): number[] {
  const found: number[] = [];
  if (!/\{[^\s;&|()<>]/.test(text)) return found; // the common case: no tree walk
  const stack = [root];
  while (stack.length) {
    const n = stack.pop()!;
    if (!n.isNamed && n.type === '{' && (n.parent?.type === 'compound_statement' || n.parent?.type === 'ERROR')) {
      const next = text[n.endIndex];
      if (next !== undefined && !/[\s;&|()<>]/.test(next)) found.push(n.startIndex);
    }
    stack.push(...childrenOf(n));
  }
  return found;
}

const GROUP_OPENERS = new Set(['{', '(', '!', '[[', '((']);
const GROUP_NODES = new Set(['subshell', 'compound_statement', 'test_command', 'negated_command']);

/** `time { …; }`, `coproc ( … )`: the ranges of the reserved words to blank out. */
function keywordsBeforeGroups(root: Node): [number, number][] {
  const found: [number, number][] = [];
  if (!/\b(?:time|coproc)\b/.test(root.text)) return found;
  for (const name of root.descendantsOfType('command_name')) {
    if (!name || (name.text !== 'time' && name.text !== 'coproc')) continue;
    const next = name.nextSibling;
    if (next && (GROUP_OPENERS.has(next.text) || GROUP_NODES.has(next.type))) found.push([name.startIndex, name.endIndex]);
  }
  return found;
}

/** Nodes whose whole text is read from the source as one piece (see shell-words.ts, shell-redirects.ts). */
const READ_WHOLE = new Set(['string', 'raw_string', 'ansi_c_string', 'translated_string', 'heredoc_body', 'comment', 'regex', 'extglob_pattern']);

/**
 * The first non-blank text no node covers. tree-sitter-bash can leave a word out of the tree
 * without an error (`make -f - <<EOF` loses the `-`); a word bash passes to a program but the
 * checker never sees must make the command ask.
 */
function skippedText(tree: Tree, text: string): string | undefined {
  let covered = 0;
  const cursor = tree.walk();
  try {
    for (;;) {
      const leaf = READ_WHOLE.has(cursor.nodeType) || !cursor.gotoFirstChild();
      if (leaf) {
        const gap = text.slice(covered, cursor.startIndex);
        if (/\S/.test(gap.replace(/\\\n/g, ''))) return gap.trim();
        covered = Math.max(covered, cursor.endIndex);
        while (!cursor.gotoNextSibling()) {
          if (!cursor.gotoParent()) {
            const tail = text.slice(covered);
            return /\S/.test(tail) ? tail.trim() : undefined;
          }
        }
      }
    }
  } finally {
    cursor.delete();
  }
}
