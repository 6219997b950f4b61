import { RefusedError } from '../core/errors.js';
/**
 * Bash brace expansion (`{a,b}`, `x{1..3}`, `{a..e..2}`), done the way bash does it, so that a
 * command written as `{rm,-rf,/tmp/x}` is checked as the `rm -rf /tmp/x` it runs. Only unquoted
 * braces and commas expand; quoted ones and run-time parts (variables, substitutions) are atoms.
 */

/** One character of a word, or one run-time part of it (which never takes part in expansion). */
export interface Atom {
  text: string;
  /** An unquoted `{`, `,` or `}`: the only characters that open, split and close a brace group. */
  special: boolean;
  /** Quoted (or escaped): never part of an expansion's syntax. */
  quoted?: boolean;
  /** A variable, substitution or other run-time part, shown as written. */
  dynamic?: boolean;
}

/** More words than this from one word is not a command anyone needs checked: it asks. */
export const MAX_BRACE_WORDS = 256;

export class BraceLimitError extends RefusedError {}

const isSpecial = (a: Atom | undefined, ch: string): boolean => a !== undefined && a.special && a.text === ch;

/** Expands a word; throws BraceLimitError past MAX_BRACE_WORDS results. */
export function expandBraces(atoms: readonly Atom[]): Atom[][] {
  const out: Atom[][] = [];
  expandInto(atoms, out);
  return out;
}

function expandInto(atoms: readonly Atom[], out: Atom[][]): void {
  for (let open = 0; open < atoms.length; open++) {
    if (!isSpecial(atoms[open], '{')) continue;
    const found = findAlternatives(atoms, open);
    if (!found) continue;
    const prefix = atoms.slice(0, open);
    const suffix = atoms.slice(found.close + 1);
    for (const alt of found.alternatives) {
      expandInto([...prefix, ...alt, ...suffix], out);
      if (out.length > MAX_BRACE_WORDS) throw new BraceLimitError(`brace expansion makes more than ${MAX_BRACE_WORDS} words`);
    }
    return;
  }
  out.push([...atoms]);
}

/** The alternatives of the brace group opened at `open`, or undefined when it is not one (bash leaves it as text). */
function findAlternatives(atoms: readonly Atom[], open: number): { close: number; alternatives: Atom[][] } | undefined {
  let depth = 0;
  const commas: number[] = [];
  for (let i = open + 1; i < atoms.length; i++) {
    if (isSpecial(atoms[i], '{')) depth++;
    else if (isSpecial(atoms[i], '}')) {
      if (depth === 0) {
        if (commas.length > 0) {
          const bounds = [open, ...commas, i];
          const alternatives = bounds.slice(1).map((end, k) => atoms.slice(bounds[k]! + 1, end));
          return { close: i, alternatives };
        }
        const seq = sequence(atoms.slice(open + 1, i));
        // oxlint-disable-next-line typescript/no-misused-spread -- bash expands {a..z} per character (code point), as the spread splits; graphemes are not a shell notion
        return seq ? { close: i, alternatives: seq.map((s) => [...s].map((ch) => ({ text: ch, special: false }))) } : undefined;
      }
      depth--;
    } else if (depth === 0 && isSpecial(atoms[i], ',')) commas.push(i);
  }
  return undefined;
}

/** `{1..5}`, `{01..10..3}`, `{a..e}`: the words of a sequence expression, or undefined when it is not one. */
function sequence(inner: readonly Atom[]): string[] | undefined {
  if (inner.some((a) => a.dynamic || a.quoted || a.special)) return undefined;
  const text = inner.map((a) => a.text).join('');
  const num = /^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$/.exec(text);
  const chr = /^([A-Za-z])\.\.([A-Za-z])(?:\.\.(-?\d+))?$/.exec(text);
  if (!num && !chr) return undefined;
  const m = (num ?? chr)!;
  const step = Math.abs(Number(m[3] ?? 1)) || 1;
  const from = num ? Number(m[1]) : m[1]!.charCodeAt(0);
  const to = num ? Number(m[2]) : m[2]!.charCodeAt(0);
  const count = Math.floor(Math.abs(to - from) / step) + 1;
  if (count > MAX_BRACE_WORDS) throw new BraceLimitError(`brace expansion makes more than ${MAX_BRACE_WORDS} words`);
  const width = num && (/^-?0\d/.test(m[1]!) || /^-?0\d/.test(m[2]!)) ? Math.max(m[1]!.length, m[2]!.length) : 0;
  const words: string[] = [];
  for (let k = 0, v = from; k < count; k++, v += from <= to ? step : -step) {
    if (!num) words.push(String.fromCharCode(v));
    else {
      const digits = String(Math.abs(v)).padStart(width - (v < 0 ? 1 : 0), '0');
      words.push(v < 0 ? `-${digits}` : digits);
    }
  }
  return words;
}
