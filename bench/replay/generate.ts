/**
 * Writes bench/replay/traces/day.json: a labelled, deterministic "day in a repo" for the replay
 * runner (bench/replay/run.ts). Re-run after changing the story:
 *   node --import tsx bench/replay/generate.ts
 *
 * The day: a developer works 09:00-17:30 on a small TypeScript project, with lunch 12:00-13:00 and
 * a meeting 15:00-15:45 (away). Most of what happens is routine saves (label: sleep). What Kairos
 * should act on by itself: the first look after a commit broke the tests (twice), a poke asking
 * for a review, and a new migration without a test. A dependency bump in package.json is routine.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Step, Trace } from './trace.js';
import { seededRandom as rng } from '../../test/support/seeded-random.js';


const SRC = ['src/parser.ts', 'src/lexer.ts', 'src/format.ts', 'src/cli.ts', 'test/parser.test.ts', 'README.md'];
const min = (hh: number, mm: number): number => (hh - 9) * 60 + mm;

export function generateDay(seed = 7): Trace {
  const rnd = rng(seed);
  const files: Record<string, string> = Object.fromEntries(SRC.map((p) => [p, `// ${p}\nexport const v = 0;\n`]));
  files['package.json'] = '{"name": "tiny-parser", "dependencies": {"chalk": "5.3.0"}}\n';
  const current = { ...files };
  const steps: Step[] = [];
  let rev = 0;
  // Fails after the breaking commit until the fix commit: the first ambient look after each failure should act.
  let pendingFailure = false;

  const save = (at: number, p = SRC[Math.floor(rnd() * SRC.length)]!): void => {
    // One save in five is an editor autosave of unchanged content.
    if (rnd() >= 0.2) current[p] = `// ${p}\nexport const v = ${++rev};\n`;
    steps.push({
      kind: 'edit',
      atMin: at,
      files: { [p]: current[p]! },
      label: pendingFailure
        ? { shouldAct: true, why: 'the tests are failing since the last commit: prepare a fix' }
        : { shouldAct: false, why: 'a routine save' },
    });
    pendingFailure = false;
  };
  const session = (from: number, to: number, fixed: Array<[number, () => void]>): void => {
    const events = [...fixed];
    for (let t = from + Math.floor(rnd() * 3); t < to; t += 2 + Math.floor(rnd() * 5)) events.push([t, () => save(t)]);
    events.sort((a, b) => a[0] - b[0]);
    for (const [, f] of events) f();
  };
  const commit = (at: number, message: string, breaks: boolean): Array<[number, () => void]> => [
    [at, () => steps.push({ kind: 'commit', atMin: at, message, paths: ['src/parser.ts'] })],
    [
      at + 2,
      () => {
        steps.push(
          breaks
            ? { kind: 'result', atMin: at + 2, trigger: 'tests', state: 'failed', exitCode: 1, output: 'FAIL test/parser.test.ts\n  parses empty input: expected [] got undefined\n1 failed, 41 passed' }
            : { kind: 'result', atMin: at + 2, trigger: 'tests', state: 'done', exitCode: 0, output: '42 passed' },
        );
        pendingFailure = breaks;
      },
    ],
  ];

  session(min(9, 0), min(12, 0), [...commit(min(10, 15), 'parser: handle empty input', true), ...commit(min(11, 40), 'parser: fix empty input', false)]);
  steps.push({ kind: 'cron', atMin: min(12, 30), trigger: 'audit' });
  session(min(13, 0), min(15, 0), [
    [min(13, 5), () => steps.push({ kind: 'poke', atMin: min(13, 5), note: 'please review my last commit', label: { shouldAct: true, why: 'the user asked for a review' } })],
    [
      min(13, 30),
      () => {
        current['package.json'] = '{"name": "tiny-parser", "dependencies": {"chalk": "5.4.1"}}\n';
        steps.push({ kind: 'edit', atMin: min(13, 30), files: { 'package.json': current['package.json'] }, label: { shouldAct: false, why: 'a routine dependency bump' } });
      },
    ],
    ...commit(min(14, 30), 'format: align columns', true),
  ]);
  session(min(15, 45), min(17, 30), [
    ...commit(min(16, 10), 'format: fix alignment test', false),
    [min(16, 0), () => steps.push({ kind: 'poke', atMin: min(16, 0), note: 'anything to do?', label: { shouldAct: false, why: 'nothing is wrong' } })],
    [
      min(16, 30),
      () =>
        steps.push({
          kind: 'edit',
          atMin: min(16, 30),
          files: { 'src/db/migrations/002_add_users.sql': 'CREATE TABLE users (id INTEGER PRIMARY KEY);\n' },
          label: { shouldAct: true, why: 'a new migration without a test: propose one' },
        }),
    ],
    ...commit(min(17, 20), 'cli: --version', false),
  ]);
  steps.sort((a, b) => a.atMin - b.atMin);

  return {
    name: 'day-in-a-repo',
    seed,
    start: '2026-11-24T09:00',
    policy: 'triggers:\n  - {name: tests, on: {git: [commit]}, run: npm test}\n  - {name: audit, on: {cron: "30 12 * * *"}, run: npm audit}\nmodels: {triage: claude-haiku-4-5, act: claude-sonnet-4-6}\nbudget: {day_usd: 2}\n',
    files,
    steps,
  };
}

export const TRACE_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)).replace(`${path.sep}dist${path.sep}`, path.sep), 'traces', 'day.json');

export function main(): void {
  const trace = generateDay();
  fs.mkdirSync(path.dirname(TRACE_FILE), { recursive: true });
  fs.writeFileSync(TRACE_FILE, `${JSON.stringify(trace, null, 1)}\n`);
  const labelled = trace.steps.filter((s) => 'label' in s);
  process.stdout.write(
    `wrote ${path.relative(process.cwd(), TRACE_FILE)}: ${trace.steps.length} steps, ${labelled.length} labelled, ${labelled.filter((s) => 'label' in s && s.label.shouldAct).length} should act\n`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
