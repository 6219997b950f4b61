import { createRequire } from 'node:module';
import type RewritePattern from 'regexpu-core';
import { KairosError, messageOf } from '../../core/errors.js';

// Loaded on first need: only patterns with modifier groups use it, and a CLI call may need none.
let rewriter: typeof RewritePattern | undefined;
const rewritePattern: typeof RewritePattern = (...args) => {
  if (!rewriter) {
    // require() is typed any: the annotation names what the package exports.
    const loaded: typeof RewritePattern = createRequire(import.meta.url)('regexpu-core');
    rewriter = loaded;
  }
  return rewriter(...args);
};

/**
 * Go RE2 pattern syntax → a JavaScript RegExp, for rule sets written for Go (gitleaks). The
 * translation is structural, never textual guesswork:
 *
 * - a leading `(?i)` / `(?s)` / `(?m)` becomes the RegExp's flag;
 * - a flag group set mid-pattern (`\b(p8e-(?i)[a-z0-9]{32})`) holds, in Go, to the end of its group
 *   and over the alternatives after it: it becomes a modifier group `(?i:…)` around exactly that;
 * - modifier groups (`(?i:…)`, `(?-i:…)`, `(?s:…)`) are then expanded by regexpu-core (Node 20 has
 *   no RegExp modifiers), which spells case-insensitivity out as classes and may drop the `i` flag;
 * - `(?P<name>` → `(?<name>`, `\z` → `$`, `\A` → `^`, `[[:alnum:]]` and the other POSIX classes,
 *   `\Q…\E` quoting, and a `]` first in a class (`[^]]`, literal in Go, "anything" in JS).
 *
 * What has no JavaScript equivalent here (`(?U)`, `\p{…}` classes, `\C`, `\x{…}`) throws
 * Untranslatable; the caller skips that rule and counts it.
 */

export class Untranslatable extends KairosError {
  override name = 'Untranslatable';
}

export interface JsPattern {
  source: string;
  /** Some of 'i', 's', 'm'. */
  flags: string;
}

const POSIX: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

type Item = { kind: 'raw'; text: string } | { kind: 'group'; open: string; body: Item[][] } | { kind: 'flags'; flags: string };

const ESCAPE_SPECIAL = /[\\^$.*+?()[\]{}|/-]/g;

/** Parses a Go pattern into alternatives of items; `(?flags)` setters are kept as items. */
function parse(p: string): Item[][] {
  let i = 0;
  const quote = (s: string): string => s.replace(ESCAPE_SPECIAL, '\\$&');

  function escape(inClass: boolean): string {
    const c = p[i + 1];
    if (c === undefined) throw new Untranslatable('trailing backslash');
    if (c === 'p' || c === 'P' || c === 'C') throw new Untranslatable(`\\${c} has no JavaScript equivalent here`);
    if (c === 'x' && p[i + 2] === '{') throw new Untranslatable('\\x{…} escapes are not translated');
    if (c === 'Q') {
      const end = p.indexOf('\\E', i + 2);
      const lit = p.slice(i + 2, end < 0 ? p.length : end);
      i = end < 0 ? p.length : end + 2;
      return quote(lit);
    }
    i += 2;
    if (!inClass && c === 'z') return '$';
    if (!inClass && c === 'A') return '^';
    if (c === 'x') {
      const hex = p.slice(i, i + 2);
      i += 2;
      return `\\x${hex}`;
    }
    return `\\${c}`;
  }

  function charClass(): string {
    // p[i] === '['
    let out = '[';
    i++;
    if (p[i] === '^') {
      out += '^';
      i++;
    }
    let first = true;
    for (;;) {
      const c = p[i];
      if (c === undefined) throw new Untranslatable('unterminated character class');
      if (c === ']' && !first) {
        i++;
        return out + ']';
      }
      first = false;
      if (c === '[' && p[i + 1] === ':') {
        const end = p.indexOf(':]', i + 2);
        const name = end < 0 ? '' : p.slice(i + 2, end);
        if (name.startsWith('^')) throw new Untranslatable(`negated POSIX class [:${name}:]`);
        const expansion = POSIX[name];
        if (!expansion) throw new Untranslatable(`unknown POSIX class [:${name}:]`);
        out += expansion;
        i = end + 2;
      } else if (c === '\\') {
        out += escape(true);
      } else if (c === ']' || c === '[') {
        out += `\\${c}`;
        i++;
      } else {
        out += c;
        i++;
      }
    }
  }

  function alternation(depth: number): Item[][] {
    const alts: Item[][] = [[]];
    const push = (it: Item): void => {
      const cur = alts[alts.length - 1]!;
      const last = cur[cur.length - 1];
      if (it.kind === 'raw' && last?.kind === 'raw') last.text += it.text;
      else cur.push(it);
    };
    while (i < p.length) {
      const c = p[i]!;
      if (c === ')') {
        if (depth === 0) throw new Untranslatable('unbalanced )');
        return alts;
      }
      if (c === '|') {
        alts.push([]);
        i++;
      } else if (c === '\\') {
        push({ kind: 'raw', text: escape(false) });
      } else if (c === '[') {
        push({ kind: 'raw', text: charClass() });
      } else if (c === '(') {
        let open = '(';
        if (p[i + 1] === '?') {
          const rest = p.slice(i + 2);
          const named = /^P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
          const flags = /^([A-Za-z]*(?:-[A-Za-z]*)?)([:)])/.exec(rest);
          if (rest.startsWith(':')) {
            open = '(?:';
            i += 3;
          } else if (named) {
            open = `(?<${named[1]}>`;
            i += 2 + named[0].length;
          } else if (flags && flags[1]) {
            if (/[^ims-]/.test(flags[1])) throw new Untranslatable(`flag group (?${flags[1]}) has no JavaScript equivalent`);
            i += 2 + flags[0].length;
            if (flags[2] === ')') {
              push({ kind: 'flags', flags: flags[1] });
              continue;
            }
            open = `(?${flags[1]}:`;
          } else {
            throw new Untranslatable(`group syntax (?${rest.slice(0, 3)}`);
          }
        } else {
          i++;
        }
        const body = alternation(depth + 1);
        if (p[i] !== ')') throw new Untranslatable('unterminated group');
        i++;
        push({ kind: 'group', open, body });
      } else {
        push({ kind: 'raw', text: c });
        i++;
      }
    }
    if (depth > 0) throw new Untranslatable('unterminated group');
    return alts;
  }

  return alternation(0);
}

/** Serialises alternatives; a flag setter wraps the rest of its alternative and every later one. */
function emit(alts: Item[][]): string {
  const carried: string[] = [];
  return alts
    .map((alt) => {
      const setHere: string[] = [];
      let s = emitSeq(alt, (f) => setHere.push(f));
      if (carried.length) s = `(?${normaliseFlags(carried)}:${s})`;
      carried.push(...setHere);
      return s;
    })
    .join('|');
}

function emitSeq(seq: Item[], onFlags: (f: string) => void): string {
  let out = '';
  for (let k = 0; k < seq.length; k++) {
    const it = seq[k]!;
    if (it.kind === 'raw') out += it.text;
    else if (it.kind === 'group') out += `${it.open}${emit(it.body)})`;
    else {
      onFlags(it.flags);
      return `${out}(?${normaliseFlags([it.flags])}:${emitSeq(seq.slice(k + 1), onFlags)})`;
    }
  }
  return out;
}

/** Go setters in order (`i`, `-i`, `i-s`), later ones winning → one JS modifier `on-off`, each flag once. */
function normaliseFlags(setters: readonly string[]): string {
  const on = new Set<string>();
  const off = new Set<string>();
  for (const setter of setters) {
    const [plus = '', minus = ''] = setter.split('-');
    for (const c of plus) {
      on.add(c);
      off.delete(c);
    }
    for (const c of minus) {
      off.add(c);
      on.delete(c);
    }
  }
  return `${[...on].join('')}${off.size ? `-${[...off].join('')}` : ''}`;
}

/** Translates a Go RE2 pattern; throws Untranslatable for syntax JavaScript cannot express here. */
export function translateRe2(pattern: string): JsPattern {
  const alts = parse(pattern);
  let flags = '';
  // A setter first in the whole pattern applies to all of it: that is a RegExp flag.
  const head = alts[0]![0];
  if (head?.kind === 'flags' && !head.flags.includes('-')) {
    flags = [...new Set(head.flags)].join('');
    alts[0]!.shift();
  }
  let source = emit(alts);
  if (/\(\?(?:[ims]+(?:-[ims]+)?|-[ims]+):/.test(source)) {
    let newFlags = flags;
    try {
      source = rewritePattern(source, flags, { modifiers: 'transform', onNewFlags: (f) => (newFlags = f) });
    } catch (e) {
      throw new Untranslatable(`modifier groups: ${messageOf(e)}`, { cause: e });
    }
    flags = newFlags;
  }
  source = collapseLazyRuns(source);
  try {
    new RegExp(source, flags);
  } catch (e) {
    throw new Untranslatable(messageOf(e), { cause: e });
  }
  return { source, flags };
}

/**
 * `[\w.-]{0,50}?(?:[\w.-]{0,50}?…` (two lazy runs of one class in a row, as gitleaks' template for
 * case-sensitive keywords writes them) is `(?:[\w.-]{0,100}?…`: the same strings, without the 50×50
 * ways to split a run that a backtracking engine tries at every position of a long word (RE2 does
 * not backtrack; V8 does, and a hostile file with one long line made this rule take seconds).
 */
function collapseLazyRuns(src: string): string {
  return src.replace(/\[\\w\.-\]\{0,(\d+)\}\?\(\?:\[\\w\.-\]\{0,(\d+)\}\?/g, (_m, a: string, b: string) => `(?:[\\w.-]{0,${Number(a) + Number(b)}}?`);
}
