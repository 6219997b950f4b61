/**
 * Recognisers for the output of the tools a trigger usually runs: each looks for its tool's own
 * markers and returns the failures it reported (test name, the failing assertion or error, where),
 * or null when the output is not its tool's. Written against real captured output (see
 * test/fixtures/failure-output/); the output is the repository's, so hostile: every recogniser is
 * line-based and linear, with anchored regular expressions that cannot backtrack badly.
 */

export interface Failure {
  /** The test's name, when a test runner reported one. */
  name?: string;
  /** The failing assertion or error, most telling line first. */
  message: string[];
  /** file:line[:col], relative to the repository when inside it. */
  at?: string;
}

export interface Recognised {
  tool: string;
  failures: Failure[];
  /** The runner's own count, e.g. "3 failed, 1 passed". */
  counts?: string;
}

export interface FormatContext {
  /** A path as the user reads it: relative to the repository when inside it, file:// URLs unwrapped. */
  rel(p: string): string;
}

export type Recogniser = (lines: readonly string[], ctx: FormatContext) => Recognised | null;

const STACK_FRAME = /^\s*at\s/;
const blank = (l: string): boolean => l.trim() === '';

/** file:line:col from a stack frame or a bare location, skipping node's internals and dependencies. */
function frameAt(line: string, ctx: FormatContext): string | undefined {
  const m = /\(?((?:file:\/\/)?[^\s()]+?):(\d+)(?::(\d+))?\)?\s*$/.exec(line.trim());
  if (!m || /^node:|node_modules|^internal\//.test(m[1]!)) return undefined;
  return `${ctx.rel(m[1]!)}:${m[2]}${m[3] ? `:${m[3]}` : ''}`;
}

function firstFrame(lines: readonly string[], ctx: FormatContext): string | undefined {
  for (const l of lines) if (STACK_FRAME.test(l)) {
    const at = frameAt(l, ctx);
    if (at) return at;
  }
  return undefined;
}

/** "AssertionError [ERR_ASSERTION]: Expected …" → "Expected …": the class says nothing the message does not. */
function plainAssertion(line: string): string {
  return line.replace(/^\s*AssertionError(?: \[ERR_ASSERTION\])?:\s*/, '').trim();
}

/** Message lines: trimmed, non-empty, up to the first stack frame or a runner's diff/code frame. */
function messageLines(lines: readonly string[], stop: (l: string) => boolean = () => false): string[] {
  const out: string[] = [];
  for (const l of lines) {
    if (STACK_FRAME.test(l) || stop(l)) break;
    if (!blank(l)) out.push(l.trim());
  }
  return out;
}

// node --test, TAP reporter (the default for piped output on Node 20) -------------------------------

export const nodeTap: Recogniser = (lines, ctx) => {
  if (!lines.some((l) => /^TAP version \d+/.test(l) || /^\s*not ok \d+ - /.test(l))) return null;
  const failures: Failure[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)not ok \d+ - (.*?)(?:\s+#\s*(?:TODO|SKIP).*)?$/.exec(lines[i]!);
    if (!m) continue;
    // The YAML block: from '---' to '...', at the test's indent plus two.
    const block: string[] = [];
    let j = i + 1;
    if (lines[j]?.trim() === '---') {
      for (j++; j < lines.length && lines[j]!.trim() !== '...'; j++) block.push(lines[j]!);
    }
    // Keys sit at the block's own indent; deeper lines belong to a value (an error message may say "name:").
    const keyIndent = Math.min(...block.filter((l) => !blank(l)).map((l) => l.length - l.trimStart().length));
    const field = (name: string): string | undefined => {
      const f = block.find((l) => l.length - l.trimStart().length === keyIndent && l.trimStart().startsWith(`${name}:`));
      return f?.slice(f.indexOf(':') + 1).trim();
    };
    // A suite fails because a test in it did: that test is reported on its own.
    if (/subtestsFailed/.test(field('failureType') ?? '')) continue;
    const message: string[] = [];
    const errIdx = block.findIndex((l) => l.length - l.trimStart().length === keyIndent && /^\s*error:/.test(l));
    if (errIdx >= 0) {
      const value = block[errIdx]!.slice(block[errIdx]!.indexOf(':') + 1).trim();
      if (/^[|>][-+]?$/.test(value)) {
        const errIndent = block[errIdx]!.length - block[errIdx]!.trimStart().length;
        for (let k = errIdx + 1; k < block.length; k++) {
          const l = block[k]!;
          if (!blank(l) && l.length - l.trimStart().length <= errIndent) break;
          if (!blank(l)) message.push(l.trim());
        }
      } else {
        message.push(...unquote(value).split('\n').map((l) => l.trim()).filter(Boolean));
      }
    }
    const location = field('location');
    // TAP keeps the error's class apart (name: 'SyntaxError'); it says what kind of failure this is, except for an assertion.
    const errName = unquote(field('name') ?? '');
    if (message[0] && /^[A-Z]\w*Error$/.test(errName) && errName !== 'AssertionError' && !message[0].startsWith(errName)) message[0] = `${errName}: ${message[0]}`;
    failures.push({
      name: m[2]!.trim(),
      message: message.map(plainAssertion).filter(Boolean),
      ...(location ? { at: locationAt(unquote(location), ctx) } : {}),
    });
  }
  const fail = lines.find((l) => /^# fail \d+/.test(l));
  const pass = lines.find((l) => /^# pass \d+/.test(l));
  return failures.length ? { tool: 'node --test', failures, ...(fail ? { counts: counts(fail, pass) } : {}) } : null;
};

function counts(fail: string, pass: string | undefined): string {
  const n = (s: string | undefined) => /(\d+)/.exec(s ?? '')?.[1];
  return `${n(fail)} failed${pass ? `, ${n(pass)} passed` : ''}`;
}

function unquote(v: string): string {
  // The closing quote may be gone with the end of a line cut for length.
  const q = /^'(.*?)'?$/.exec(v) ?? /^"(.*?)"?$/.exec(v);
  return q ? q[1]!.replace(/''/g, "'").replace(/\\n/g, '\n') : v;
}

function locationAt(loc: string, ctx: FormatContext): string {
  const m = /^(.*?):(\d+)(?::(\d+))?$/.exec(loc);
  return m ? `${ctx.rel(m[1]!)}:${m[2]}${m[3] ? `:${m[3]}` : ''}` : ctx.rel(loc);
}

// node --test, spec reporter ---------------------------------------------------------------------

export const nodeSpec: Recogniser = (lines, ctx) => {
  const section = lines.findIndex((l) => l.startsWith('✖ failing tests:'));
  if (section < 0 && !lines.some((l) => /^ℹ fail \d+/.test(l))) return null;
  const body = section >= 0 ? lines.slice(section + 1) : lines;
  const failures: Failure[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < body.length; i++) {
    const m = /^(\s*)✖ (.*?)(?: \([\d.]+m?s\))?$/.exec(body[i]!);
    if (!m || m[2]!.startsWith('failing tests:')) continue;
    const indent = m[1]!.length;
    const block: string[] = [];
    let j = i + 1;
    for (; j < body.length; j++) {
      const l = body[j]!;
      if (!blank(l) && l.length - l.trimStart().length <= indent) break;
      block.push(l);
    }
    const message = messageLines(block, (l) => /^\s*\{$/.test(l)).map(plainAssertion).filter(Boolean);
    if (!message.length || /^\d+ subtests? failed$/.test(message[0]!)) continue;
    const where = /^test at (.+)$/.exec(body[i - 1] ?? '')?.[1];
    const key = `${m[2]}\0${message[0]}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const at = where ? locationAt(where, ctx) : firstFrame(block, ctx);
    failures.push({ name: m[2]!.trim(), message, ...(at ? { at } : {}) });
  }
  const fail = lines.find((l) => /^ℹ fail \d+/.test(l));
  const pass = lines.find((l) => /^ℹ pass \d+/.test(l));
  return failures.length ? { tool: 'node --test', failures, ...(fail ? { counts: counts(fail, pass) } : {}) } : null;
};

// jest -------------------------------------------------------------------------------------------

const CODE_FRAME = /^\s*>?\s*\d+ \|/;

export const jest: Recogniser = (lines, ctx) => {
  if (!lines.some((l) => /^Tests:\s+\d+/.test(l) || /^\s*● /.test(l))) return null;
  const failures: Failure[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*● (.+)$/.exec(lines[i]!);
    if (!m || /^Console$/.test(m[1]!)) continue;
    const block: string[] = [];
    for (let j = i + 1; j < lines.length && !/^\s*● /.test(lines[j]!) && !/^(Test Suites|Tests):/.test(lines[j]!); j++) block.push(lines[j]!);
    // The matcher hint (expect(received).toBe(expected)) is the same for every failure of a kind: Expected/Received say it.
    const message = messageLines(block, (l) => CODE_FRAME.test(l)).filter((l, k, all) => !(k === 0 && all.length > 1 && l.startsWith('expect(')));
    const at = firstFrame(block, ctx);
    failures.push({ name: m[1]!.trim(), message: message.map(plainAssertion), ...(at ? { at } : {}) });
  }
  const summary = lines.find((l) => /^Tests:\s+\d+/.test(l));
  return failures.length ? { tool: 'jest', failures, ...(summary ? { counts: summary.replace(/^Tests:\s+/, '').replace(/, \d+ total$/, '') } : {}) } : null;
};

// vitest -----------------------------------------------------------------------------------------

export const vitest: Recogniser = (lines, ctx) => {
  if (!lines.some((l) => /^\s*Test Files\s/.test(l)) && !lines.some((l) => /^\s*FAIL\s+\S+.* > /.test(l))) return null;
  const failures: Failure[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*FAIL\s+(\S+)(?: > (.+))?$/.exec(lines[i]!);
    if (!m) continue;
    const block: string[] = [];
    for (let j = i + 1; j < lines.length && !/^\s*FAIL\s/.test(lines[j]!) && !/^\s*⎯{3,}/.test(lines[j]!); j++) block.push(lines[j]!);
    // Up to the diff ("- Expected"/"+ Received") or the location (❯ file:line:col).
    const message = messageLines(block, (l) => /^[-+] (Expected|Received)/.test(l) || /^\s*❯ /.test(l)).map(plainAssertion);
    const loc = block.find((l) => /^\s*❯ \S+:\d+/.test(l));
    const at = loc ? locationAt(loc.trim().replace(/^❯\s*/, ''), ctx) : firstFrame(block, ctx);
    failures.push({ name: m[2] ? m[2].trim() : m[1]!, message, ...(at ? { at } : {}) });
  }
  const summary = lines.find((l) => /^\s*Tests\s+\d+/.test(l));
  return failures.length
    ? { tool: 'vitest', failures, ...(summary ? { counts: summary.trim().replace(/^Tests\s+/, '').replace(/\s*\(\d+\)$/, '').replace(/ \| /g, ', ') } : {}) }
    : null;
};

// mocha ------------------------------------------------------------------------------------------

export const mocha: Recogniser = (lines, ctx) => {
  const start = lines.findIndex((l) => /^\s+\d+ failing$/.test(l));
  if (start < 0) return null;
  const failures: Failure[] = [];
  const body = lines.slice(start + 1);
  for (let i = 0; i < body.length; i++) {
    const m = /^\s{1,4}(\d+)\) (.+)$/.exec(body[i]!);
    if (!m) continue;
    // The title runs over indented lines; its last part ends with ':'.
    const title = [m[2]!.trim()];
    let j = i + 1;
    while (j < body.length && !title.at(-1)!.endsWith(':') && !blank(body[j]!)) title.push(body[j++]!.trim());
    const block: string[] = [];
    for (; j < body.length && !/^\s{1,4}\d+\) /.test(body[j]!); j++) block.push(body[j]!);
    const message = messageLines(block, (l) => /^\s*\+ expected - actual/.test(l) || /^\s*\+ actual - expected/.test(l)).map(plainAssertion);
    const at = firstFrame(block, ctx);
    failures.push({ name: title.join(' ').replace(/:$/, ''), message, ...(at ? { at } : {}) });
  }
  const passing = lines.find((l) => /^\s+\d+ passing/.test(l));
  const n = (s: string | undefined) => /(\d+)/.exec(s ?? '')?.[1];
  return failures.length ? { tool: 'mocha', failures, counts: `${n(lines[start])} failed${passing ? `, ${n(passing)} passed` : ''}` } : null;
};

// pytest -----------------------------------------------------------------------------------------

export const pytest: Recogniser = (lines, ctx) => {
  const summaryAt = lines.findIndex((l) => /^=+ short test summary info =+$/.test(l));
  const final = [...lines].reverse().find((l) => /^=+ .*\b(failed|errors?)\b.* in [\d.]+s.* =+$/.test(l));
  if (summaryAt < 0 && !final) return null;
  const failures: Failure[] = [];
  // Where each test failed: "tests/test_cart.py:5: AssertionError" at the end of its block.
  const locations = new Map<string, string>();
  let current: string | undefined;
  for (const l of lines) {
    const head = /^_{3,} (.+?) _{3,}$/.exec(l);
    if (head) current = head[1];
    const loc = /^(\S+\.py):(\d+): \w+/.exec(l);
    if (current && loc && !locations.has(current)) locations.set(current, `${ctx.rel(loc[1]!)}:${loc[2]}`);
  }
  if (summaryAt >= 0) {
    for (const l of lines.slice(summaryAt + 1)) {
      const m = /^(FAILED|ERROR) (\S+?)(?: - (.*))?$/.exec(l);
      if (!m) continue;
      const name = m[2]!.includes('::') ? m[2]!.split('::').slice(1).join('::') : m[2]!;
      const at = locations.get(name) ?? locations.get(name.replace(/::/g, '.'));
      failures.push({ name, message: m[3] ? [m[3]] : [m[1] === 'ERROR' ? 'error while collecting or setting up' : 'failed'], ...(at ? { at } : {}) });
    }
  }
  if (!failures.length) {
    // No short summary (-rN): the "E   " lines of each block.
    for (const [name, at] of locations) failures.push({ name, message: [], at });
    let k = -1;
    for (const l of lines) {
      if (/^_{3,} .+ _{3,}$/.test(l)) k++;
      const e = /^E\s+(.*)$/.exec(l);
      if (e && failures[k] && failures[k]!.message.length < 2) failures[k]!.message.push(e[1]!.trim());
    }
  }
  const counts = final?.replace(/^=+ /, '').replace(/ in [\d.]+s.*$/, '');
  return failures.length ? { tool: 'pytest', failures, ...(counts ? { counts } : {}) } : null;
};

// cargo test / rustc -----------------------------------------------------------------------------

export const cargo: Recogniser = (lines, ctx) => {
  if (!lines.some((l) => l.startsWith('test result: FAILED') || /panicked at/.test(l) || /^error(\[E\d+\])?: /.test(l))) return null;
  const failures: Failure[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    // Rust 1.73+: "thread 'name' (id) panicked at src/lib.rs:15:9:" then the message lines.
    const now = /^thread '(.+?)'(?: \(\d+\))? panicked at (\S+?):(\d+):(\d+):$/.exec(l);
    // Before 1.73: "thread 'name' panicked at 'message', src/lib.rs:15:9".
    const old = /^thread '(.+?)' panicked at '(.*)', (\S+?):(\d+):(\d+)$/.exec(l);
    if (now) {
      const message: string[] = [];
      for (let j = i + 1; j < lines.length && !blank(lines[j]!) && !/^(note: |stack backtrace:)/.test(lines[j]!); j++) message.push(lines[j]!.trim());
      failures.push({ name: now[1]!, message, at: `${ctx.rel(now[2]!)}:${now[3]}:${now[4]}` });
    } else if (old) {
      failures.push({ name: old[1]!, message: [old[2]!], at: `${ctx.rel(old[3]!)}:${old[4]}:${old[5]}` });
    }
    // A compile error: "error[E0277]: msg" and " --> file:line:col" under it.
    const err = /^error(\[E\d+\])?: (.+)$/.exec(l);
    const arrow = err ? lines.slice(i + 1, i + 4).find((x) => /^\s*--> /.test(x)) : undefined;
    // Only rustc's shape (a code or a --> location): another tool's "error: …" line is not cargo's.
    if (err && (err[1] || arrow) && !/^(could not compile|test failed|aborting due to)/.test(err[2]!)) {
      const at = arrow ? locationAt(arrow.trim().slice(4), ctx) : undefined;
      failures.push({ message: [`${err[2]}${err[1] ? ` (${err[1].slice(1, -1)})` : ''}`], ...(at ? { at } : {}) });
    }
  }
  const result = lines.find((l) => l.startsWith('test result: FAILED.'));
  const counts = result ? result.replace(/^test result: FAILED\. /, '').split('; ').filter((p) => /^\d+ (passed|failed)$/.test(p)).reverse().join(', ') : undefined;
  return failures.length ? { tool: 'cargo', failures, ...(counts ? { counts } : {}) } : null;
};

// go test ----------------------------------------------------------------------------------------

export const goTest: Recogniser = (lines, ctx) => {
  if (!lines.some((l) => /^\s*--- FAIL: /.test(l) || /^FAIL\s/.test(l))) return null;
  const failures: Failure[] = [];
  const GO_MSG = /^\s+(\S+\.go:\d+): (.*)$/;
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*--- FAIL: (\S+)/.exec(lines[i]!);
    if (!m) continue;
    const message: string[] = [];
    let at: string | undefined;
    const take = (l: string): void => {
      const g = GO_MSG.exec(l);
      if (g) {
        at ??= ctx.rel(g[1]!);
        message.push(g[2]!.trim());
      }
    };
    // Without -v the test's lines follow its FAIL line; with -v they come between "=== RUN" and it.
    for (let j = i + 1; j < lines.length && !/^\s*(---|===) |^(FAIL|ok|PASS)\b/.test(lines[j]!); j++) take(lines[j]!);
    if (!message.length) {
      for (let j = i - 1; j >= 0 && !/^\s*(---|===) /.test(lines[j]!); j--) take(lines[j]!);
      message.reverse();
    }
    failures.push({ name: m[1]!, message, ...(at ? { at } : {}) });
  }
  // A build failure: "./x.go:5:2: undefined: y" before "FAIL pkg [build failed]".
  if (!failures.length && lines.some((l) => /^FAIL\s.*\[(build|setup) failed\]/.test(l))) {
    for (const l of lines) {
      const b = /^(\S+\.go):(\d+):(\d+): (.+)$/.exec(l);
      if (b) failures.push({ message: [b[4]!], at: `${ctx.rel(b[1]!)}:${b[2]}:${b[3]}` });
    }
  }
  return failures.length ? { tool: 'go test', failures, counts: `${failures.length} failed` } : null;
};

// tsc --------------------------------------------------------------------------------------------

export const tsc: Recogniser = (lines, ctx) => {
  const failures: Failure[] = [];
  for (const l of lines) {
    // Piped: "src/a.ts(2,3): error TS2322: msg"; --pretty: "src/a.ts:2:3 - error TS2322: msg".
    const m = /^(\S.*?)\((\d+),(\d+)\): error (TS\d+): (.+)$/.exec(l) ?? /^(\S.*?):(\d+):(\d+) - error (TS\d+): (.+)$/.exec(l);
    if (m) failures.push({ message: [`${m[5]} (${m[4]})`], at: `${ctx.rel(m[1]!)}:${m[2]}:${m[3]}` });
    else {
      const g = /^error (TS\d+): (.+)$/.exec(l);
      if (g) failures.push({ message: [`${g[2]} (${g[1]})`] });
    }
  }
  return failures.length ? { tool: 'tsc', failures, counts: `${failures.length} error${failures.length === 1 ? '' : 's'}` } : null;
};

// eslint (stylish) -------------------------------------------------------------------------------

export const eslint: Recogniser = (lines, ctx) => {
  const summary = lines.find((l) => /^✖ \d+ problems? \(\d+ errors?, \d+ warnings?\)/.test(l));
  if (!summary) return null;
  const failures: Failure[] = [];
  let file: string | undefined;
  for (const l of lines) {
    if (/^\S/.test(l) && !l.startsWith('✖ ')) file = l.trim();
    const m = /^\s+(\d+):(\d+)\s+error\s+(.+?)\s{2,}(\S+)\s*$/.exec(l);
    if (m && file) failures.push({ message: [`${m[3]} (${m[4]})`], at: `${ctx.rel(file)}:${m[1]}:${m[2]}` });
  }
  const counted = /\((\d+ errors?), \d+ warnings?\)/.exec(summary)?.[1];
  return failures.length ? { tool: 'eslint', failures, ...(counted ? { counts: counted } : {}) } : null;
};

// make, with the compiler errors that stopped it (gcc, clang) ------------------------------------

export const make: Recogniser = (lines, ctx) => {
  const makeErr = lines.findIndex((l) => /^(g?make)(\[\d+\])?: \*\*\* /.test(l));
  const cc = /^(\S+?):(\d+):(?:(\d+):)? (?:fatal )?error: (.+)$/;
  const failures: Failure[] = [];
  for (const l of lines) {
    const m = cc.exec(l);
    if (m) failures.push({ message: [m[4]!], at: `${ctx.rel(m[1]!)}:${m[2]}${m[3] ? `:${m[3]}` : ''}` });
  }
  if (makeErr < 0) return failures.length ? { tool: 'compiler', failures } : null;
  if (!failures.length) {
    // No compiler error: the recipe's last line before make gave up (its output, or the command itself) says what failed.
    const before = lines.slice(0, makeErr).filter((l) => !blank(l) && !/^g?make(\[\d+\])?: /.test(l)).slice(-1);
    failures.push({ message: before.length ? [before[0]!.trim()] : [lines[makeErr]!.trim()] });
  }
  // make's own line names the target and the Makefile line: it closes the summary.
  return { tool: 'make', failures, counts: lines[makeErr]!.trim() };
};

// A program that crashed: node's and Python's uncaught errors ------------------------------------

export const uncaught: Recogniser = (lines, ctx) => {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    const m = /^(?:Uncaught )?([A-Z]\w*(?:Error|Exception)|Error)(?: \[\w+\])?: (.+)$/.exec(l.trim());
    if (!m || STACK_FRAME.test(l)) continue;
    // node: the frames follow the error; Python: "File "x.py", line N" precedes it.
    const after = lines.slice(i + 1, i + 30);
    let at = firstFrame(after, ctx);
    if (!at) {
      for (let j = i - 1; j >= Math.max(0, i - 30) && !at; j--) {
        const py = /^\s*File "(.+?)", line (\d+)/.exec(lines[j]!);
        if (py) at = `${ctx.rel(py[1]!)}:${py[2]}`;
      }
    }
    return { tool: 'error', failures: [{ message: [`${m[1]}: ${m[2]}`], ...(at ? { at } : {}) }] };
  }
  return null;
};

/** Most specific first: a runner's own report wins over a generic error line inside it. */
export const RECOGNISERS: ReadonlyArray<Recogniser> = [nodeTap, nodeSpec, jest, vitest, mocha, pytest, cargo, goTest, tsc, eslint, make, uncaught];
