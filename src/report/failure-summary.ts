import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { redactText } from '../policy/filter.js';
import { stripTerminalEscapes, truncateText } from './terminal-text.js';
import { RECOGNISERS, type Failure, type FormatContext } from './failure-formats.js';

/**
 * The most telling lines of a failed command's output, for a notification body: the failing
 * assertion or error and where, as the tool reported it (node's test runner, jest, vitest, mocha,
 * pytest, cargo, go test, tsc, eslint, make and the compilers under it, an uncaught error), else the
 * last lines that are not a runner's footer (`# duration_ms 211.0`), a counter or a stack frame.
 * Short (a few lines) and redacted: it is shown on screen and recorded.
 */
export interface FailureSummary {
  /** The tool whose report was recognised, or null when the tail was used. */
  tool: string | null;
  /** At most `maxLines` lines, together at most `maxChars` characters. */
  lines: string[];
}

export interface SummaryOptions {
  /** The repository (or the command's directory): paths inside it are shown relative. */
  cwd?: string;
  maxLines?: number;
  maxChars?: number;
}

/** Reading past this much output gains nothing: a failure report sits within a runner's last lines. */
const MAX_INPUT_CHARS = 256_000;
const MAX_LINE_CHARS = 2000;
const LINE_MAX = 110;

/** Lines that never tell why something failed: runner footers, counters, npm's and yarn's wrappers, timings. */
const NOISE: readonly RegExp[] = [
  /^#\s*(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms)\b/, // node --test TAP footer
  /^ℹ\s/, // node --test spec footer
  /^1\.\.\d+$/, // TAP plan
  /^(TAP version|ok \d+ )/,
  /^npm (ERR!|error|warn)\b/,
  /^(error Command failed|info Visit https:\/\/yarnpkg)/,
  /ELIFECYCLE|Lifecycle script .* failed/,
  /^>\s/, // npm's "> pkg@1.0.0 test" header
  /^(Done|✨\s*Done) in [\d.]+m?s/,
  /^Node\.js v\d+/,
  /^\s*at\s/, // stack frames
  /^\s*\^+\s*$/, // a caret under a source line
  /^[-=_⎯─━]{3,}$/, // rules
  /^(Time|Duration|Start at|Snapshots|Test Suites|Ran all test suites)\b/,
  /^note: run with `RUST_BACKTRACE=1`/,
];

export function isNoise(line: string): boolean {
  const t = line.trim();
  return t === '' || NOISE.some((re) => re.test(t));
}

export function summariseFailure(output: string, o: SummaryOptions = {}): FailureSummary {
  const maxLines = o.maxLines ?? 4;
  const maxChars = o.maxChars ?? 200;
  const text = stripTerminalEscapes(output.length > MAX_INPUT_CHARS ? output.slice(-MAX_INPUT_CHARS) : output).replace(/\r/g, '\n');
  // A line longer than any report line is data, not a report: cut, so no pattern ever walks a huge line.
  const lines = text.split('\n').map((l) => (l.length > MAX_LINE_CHARS ? l.slice(0, MAX_LINE_CHARS) : l).replace(/\s+$/, ''));
  const ctx = formatContext(o.cwd);
  for (const recognise of RECOGNISERS) {
    const r = recognise(lines, ctx);
    if (r?.failures.length) return { tool: r.tool, lines: fit(render(r.failures, r.counts, maxLines), maxLines, maxChars) };
  }
  const tail = lines.filter((l) => !isNoise(l)).slice(-Math.min(3, maxLines)).map((l) => l.trim());
  return { tool: null, lines: fit(tail, maxLines, maxChars) };
}

function formatContext(cwd: string | undefined): FormatContext {
  return {
    rel: (p) => {
      let file = p;
      if (file.startsWith('file://')) {
        try {
          file = fileURLToPath(file);
        } catch {
          // Not a file URL after all: shown as the test runner printed it.
          return p;
        }
      }
      if (cwd && path.isAbsolute(file)) {
        const r = path.relative(cwd, file);
        if (r && !r.startsWith('..') && !path.isAbsolute(r)) return r;
      }
      return file;
    },
  };
}

/**
 * The first failure in full (name and message, then where), then how many more and which, then the
 * runner's count: "2 failed, 1 passed". Expected/Received pairs share a line.
 */
function render(failures: readonly Failure[], counts: string | undefined, maxLines: number): string[] {
  const [first, ...rest] = failures;
  const out: string[] = [];
  const message = pairUp(first!.message);
  const head = message.shift();
  if (first!.name) out.push(head ? `✖ ${first!.name}: ${head}` : `✖ ${first!.name}`);
  else if (head) out.push(first!.at ? `${first!.at}: ${head}` : head);
  // Room for the rest of the message, keeping a line for "where" and one for the others.
  const room = Math.max(0, maxLines - out.length - (first!.name && first!.at ? 1 : 0) - (rest.length ? 1 : 0));
  out.push(...message.slice(0, room));
  if (first!.name && first!.at) out.push(`at ${first!.at}`);
  if (rest.length) {
    const names = rest.map((f) => f.name ?? (f.at ? `${f.at}: ${f.message[0] ?? ''}` : f.message[0] ?? '')).filter(Boolean);
    out.push(`+${rest.length} more${counts ? ` (${counts})` : ''}: ${names.join(' · ')}`);
  } else if (counts && out.length < maxLines) {
    out.push(counts);
  }
  return out;
}

/** "Expected: 5" and "Received: 6" (jest), "left: 6" and "right: 5" (Rust) read best side by side; a line ending in ':' runs on. */
function pairUp(message: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < message.length; i++) {
    const a = message[i]!;
    const b = message[i + 1];
    if (b !== undefined && ((/^Expected\b/.test(a) && /^Received\b/.test(b)) || (a.startsWith('left:') && b.startsWith('right:')))) {
      out.push(`${a} · ${b}`);
      i++;
    } else if (b !== undefined && a.endsWith(':') && a.length < 60) {
      out.push(`${a} ${b}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** Redacted first (a cut must not hide a key's shape), then each line and the whole bounded. */
function fit(lines: readonly string[], maxLines: number, maxChars: number): string[] {
  const out: string[] = [];
  let used = 0;
  for (const raw of lines.slice(0, maxLines)) {
    const line = truncateText(redactText(raw).replace(/\s+/g, ' ').trim(), LINE_MAX);
    if (!line) continue;
    const left = maxChars - used - (out.length ? 1 : 0);
    if (left < 12) break;
    out.push(truncateText(line, left));
    used += Math.min(line.length, left) + (out.length > 1 ? 1 : 0);
  }
  return out;
}
