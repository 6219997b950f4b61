import type { ToolCall } from './conversation.js';

/**
 * The one-line digest stage 3 keeps of a tool result it clears: the facts an agent most often needs
 * again and could otherwise only get by re-running the call (which may no longer reproduce them):
 * the exit code, failing test names, error class names and messages, file:line locations, a test
 * run's counts, and notes an author flagged (NOTE:, WARNING:, TODO, env vars).
 *
 * Deterministic (same text, same digest), so a compressed history compresses to itself and the
 * prompt-cache prefix stays stable. Bounded (DIGEST_MAX_CHARS), so a log full of errors costs a line,
 * not a page. The text is hostile tool output: the digest is flattened to one line and stripped of
 * the characters stubs are parsed by (`[`, `]`, `→`), so a result cannot forge a stub or a spill
 * path (see clearedSpillInfo).
 */

/** The whole digest stays under this, lower-priority facts dropped first. */
export const DIGEST_MAX_CHARS = 360;
const MAX_LOCATIONS = 4;
/** Locations counted for the "+N more" note (a grep can hit thousands; the count only has to be honest up to here). */
const MAX_LOCATION_SCAN = 1_000;
const MAX_TESTS = 3;
const MAX_ERROR_LINES = 2;
const MAX_NOTES = 2;
/**
 * Only this much of a result is scanned, head and tail (exit codes and test summaries come last): the
 * digest is a hint, and scanning must stay cheap on a hostile megabyte.
 */
const SCAN_HEAD_CHARS = 150_000;
const SCAN_TAIL_CHARS = 50_000;
const LINE_CHARS = 400;

export type FactKind = 'exit' | 'test' | 'error' | 'location' | 'counts' | 'note';

export interface Fact {
  kind: FactKind;
  text: string;
}

/** One line, no stub syntax, at most `max` characters. */
function clean(s: string, max: number): string {
  const one = s
    // oxlint-disable-next-line no-control-regex -- control characters are what this strips
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\[/g, '(')
    .replace(/\]/g, ')')
    .replace(/→/g, '->')
    .replace(/\s+/g, ' ')
    .trim();
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`;
}

function pushUnique(list: string[], value: string, max: number): void {
  if (value && list.length < max && !list.includes(value)) list.push(value);
}

const EXIT = /\[exit code (-?\d+)|\bexit(?:ed)?(?: with)? (?:code|status)[:= ]+(-?\d+)|\b(killed by SIG[A-Z]+)/gi;
const FAILED_TEST = [
  /^\s*not ok \d+ - (.+?)(?:\s+#.*)?$/, // TAP (node --test, tap)
  /^\s*(?:✕|✗|✖|×)\s+(.+?)(?:\s+\(\d+(?:\.\d+)?\s*m?s\))?$/, // jest, vitest, mocha
  /^\s*●\s+(.+?)\s*$/, // jest failure headers: ● Suite › name
  /^\s*--- FAIL: (\S+)/, // go test
  /^FAILED (\S+)/, // pytest -ra
  /^\s*FAIL\s+(\S.*?)\s*$/, // vitest, jest file lines
];
const ERROR_NAME = /\b([A-Z][A-Za-z0-9]*(?:Error|Exception))\b|\berror (TS\d{3,5})\b|\b(E(?:NOENT|ACCES|PERM|ADDRINUSE|CONNREFUSED|CONNRESET|TIMEDOUT|EXIST|ISDIR|NOTDIR|MFILE|PIPE|AGAIN|BUSY|INVAL|NOSPC|ROFS|NOTEMPTY))\b/g;
const ERROR_LINE = /\b(?:error|fatal|panic|exception|assertion ?error|segmentation fault|traceback|uncaught|unhandled)\b|\b[A-Z][A-Za-z0-9]*(?:Error|Exception):\s/i;
const NOT_AN_ERROR_LINE = /^\s*(?:#\s*fail\s+0|found 0 errors|0 errors?)\b/i;
/** A path with an extension and a line (and maybe a column): `src/a.ts:12:5` or tsc's `src/a.ts(12,5)`. */
const LOCATION = /(?<![\w.-])(\/?(?:[\w@+.-]+\/)*[\w@+-][\w+.-]*\.[A-Za-z][A-Za-z0-9]{0,5})(?::(\d{1,6})(?::(\d{1,5}))?|\((\d{1,6}),(\d{1,5})\))/g;
const COUNTS = [
  /^# (?:tests|pass|fail) \d+$/, // TAP: gathered into one fact
  /^\s*Tests?:\s+(.*\d.*)$/, // jest, vitest
  /^\s*Found (\d+ errors?.*)$/, // tsc
  /^=+ (.*\b\d+ (?:failed|passed|errors?)\b.*?) =+$/, // pytest
];
const NOTE = /\b(?:NOTE|Note|WARNING|IMPORTANT|Important|FIXME|TODO|HACK|XXX)\b:?\s*(.+)/;
const ENV = /\b(?:env(?:ironment)? var(?:iable)?s?)\b|process\.env\.[A-Z_]|os\.environ/;

function stripCommentEnd(s: string): string {
  return s.replace(/\s*\*\/\s*$/, '').replace(/^\s*(?:\/\*\*?|\*|\/\/|#)\s*/, '');
}

/** Every fact found in `text`, best first within each kind (uncapped by DIGEST_MAX_CHARS). */
export function resultFacts(text: string, call?: ToolCall): Fact[] {
  const scanned = text.length > SCAN_HEAD_CHARS + SCAN_TAIL_CHARS ? `${text.slice(0, SCAN_HEAD_CHARS)}\n${text.slice(-SCAN_TAIL_CHARS)}` : text;
  const lines = scanned.split('\n').map((l) => (l.length > LINE_CHARS ? l.slice(0, LINE_CHARS) : l));
  // A source file is one read_file away: its code is not a fact, only what its author flagged is.
  const sourceRead = call?.name === 'read_file';

  let exit: string | undefined;
  // The last status wins: a script that printed a child's exit code still ends with its own.
  for (const m of scanned.matchAll(EXIT)) exit = m[3] ? `killed by ${m[3].replace(/^killed by /i, '').toUpperCase()}` : `exit code ${m[1] ?? m[2]}`;

  const tests: string[] = [];
  const errorNames: string[] = [];
  const errorLines: string[] = [];
  const errorLocations: string[] = [];
  const otherLocations: string[] = [];
  const tap: string[] = [];
  const counts: string[] = [];
  const notes: string[] = [];

  for (const line of lines) {
    if (!sourceRead) {
      for (const re of FAILED_TEST) {
        const m = re.exec(line);
        if (m?.[1]) {
          pushUnique(tests, `failed: ${clean(m[1], 100)}`, MAX_TESTS);
          break;
        }
      }
      for (const m of line.matchAll(ERROR_NAME)) pushUnique(errorNames, m[1] ?? m[2] ?? m[3] ?? '', 6);
      const isErrorLine = ERROR_LINE.test(line) && !NOT_AN_ERROR_LINE.test(line);
      if (isErrorLine) pushUnique(errorLines, clean(line, 110), MAX_ERROR_LINES);
      const locs = isErrorLine || /^\s*(?:at |location:|-->|File ")/.test(line) ? errorLocations : otherLocations;
      for (const m of line.matchAll(LOCATION)) {
        const where = m[4] ? `${m[1]}:${m[4]}:${m[5]}` : `${m[1]}:${m[2]}${m[3] ? `:${m[3]}` : ''}`;
        pushUnique(locs, clean(where, 120), MAX_LOCATION_SCAN);
      }
      if (COUNTS[0]!.test(line)) tap.push(line.slice(2));
      for (const re of COUNTS.slice(1)) {
        const m = re.exec(line);
        if (m?.[1]) pushUnique(counts, clean(m[1], 80), 1);
      }
    }
    const note = NOTE.exec(line);
    if (note?.[1]) pushUnique(notes, `note: ${clean(stripCommentEnd(note[1]), 140)}`, MAX_NOTES);
    else if (ENV.test(line)) pushUnique(notes, `note: ${clean(stripCommentEnd(line), 140)}`, MAX_NOTES);
  }

  const facts: Fact[] = [];
  if (exit) facts.push({ kind: 'exit', text: exit });
  for (const t of tests) facts.push({ kind: 'test', text: t });
  // A name already in a kept error line ("TypeError: x is undefined") is not listed twice.
  const unlisted = errorNames.filter((n) => !errorLines.some((l) => l.includes(n)));
  if (unlisted.length > 0) facts.push({ kind: 'error', text: `errors: ${unlisted.map((n) => clean(n, 60)).join(', ')}` });
  for (const l of errorLines) facts.push({ kind: 'error', text: `"${l}"` });
  const errorSet = new Set(errorLocations);
  const allLocations = [...errorLocations, ...otherLocations.filter((l) => !errorSet.has(l))];
  const more = allLocations.length - MAX_LOCATIONS;
  if (allLocations.length > 0) facts.push({ kind: 'location', text: `at ${allLocations.slice(0, MAX_LOCATIONS).join(', ')}${more > 0 ? ` (+${more}${allLocations.length >= MAX_LOCATION_SCAN ? '+' : ''} more)` : ''}` });
  if (tap.length > 0) facts.push({ kind: 'counts', text: tap.slice(-3).join(', ') });
  else if (counts[0]) facts.push({ kind: 'counts', text: counts[0] });
  for (const n of notes) facts.push({ kind: 'note', text: n });
  return facts;
}

/** Kinds in the order they are kept when the digest must be cut: the exit code first, notes last. */
const PRIORITY: readonly FactKind[] = ['exit', 'test', 'error', 'location', 'counts', 'note'];

/** The digest line (without the stub around it), or '' when the result holds no recognisable fact. */
export function digestResult(text: string, call?: ToolCall): string {
  const facts = resultFacts(text, call).sort((a, b) => PRIORITY.indexOf(a.kind) - PRIORITY.indexOf(b.kind));
  const kept: string[] = [];
  let length = 0;
  for (const f of facts) {
    if (length + f.text.length + 2 > DIGEST_MAX_CHARS) continue;
    kept.push(f.text);
    length += f.text.length + 2;
  }
  return kept.join('; ');
}
