import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { summariseFailure } from '../../src/report/failure-summary.js';
import { reportTask } from '../../src/report/task-report.js';
import { BODY_MAX } from '../../src/report/notify.js';
import type { TaskRow } from '../../src/store/task-store.js';
import { REPO_ROOT } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/failure-output');
const tmp = tempDir('kairos-failure-');
after(() => tmp.cleanup());

/** Runs a command in `cwd` the way a trigger's command runs (output piped, stdout and stderr together). */
function run(cwd: string, cmd: string, args: string[]): string {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // set by this test runner: a nested `node --test` would skip itself
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 120_000 });
  assert.notEqual(r.status, 0, `${cmd} ${args.join(' ')} was meant to fail:\n${r.stdout}${r.stderr}`);
  return `${r.stdout}${r.stderr}`;
}

function nodeProject(name: string, files: Record<string, string>): string {
  const dir = path.join(tmp.dir, name);
  for (const [rel, text] of Object.entries({ 'package.json': '{ "type": "module" }\n', ...files })) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const ADD_TEST = `import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
const add = (a, b) => a - b;
describe('maths', () => {
  test('adds small numbers', () => assert.equal(add(2, 3), 5));
  test('adds zero', () => assert.equal(add(2, 0), 2));
});
test('parses the config', () => { JSON.parse('{ nope'); });
`;

function assertBounded(lines: string[], maxLines = 4, maxChars = 200): void {
  assert.ok(lines.length > 0 && lines.length <= maxLines, `${lines.length} lines`);
  assert.ok(lines.join('\n').length <= maxChars, `${lines.join('\n').length} characters`);
}

describe('a real node --test failure, run here', () => {
  const dir = nodeProject('node-add', { 'test/add.test.js': ADD_TEST });

  for (const reporter of ['tap', 'spec']) {
    test(`${reporter} reporter: the failing assertion and where, never the footer`, () => {
      const s = summariseFailure(run(dir, process.execPath, ['--test', `--test-reporter=${reporter}`, 'test/']), { cwd: dir });
      assert.equal(s.tool, 'node --test');
      assert.equal(s.lines[0], '✖ adds small numbers: Expected values to be strictly equal: -1 !== 5');
      assert.equal(s.lines[1], 'at test/add.test.js:5:3');
      // The other failure (a SyntaxError from JSON.parse) is named; the suite that failed because of its test is not.
      assert.match(s.lines[2]!, /^\+1 more \(2 failed, 1 passed\): parses the config$/);
      assert.ok(!s.lines.join('\n').includes('duration_ms'));
      assert.ok(!s.lines.some((l) => l.includes('maths')), 'the suite is not a failure of its own');
      assertBounded(s.lines);
    });
  }

  test('an uncaught error alone: its message and where', () => {
    const s = summariseFailure(run(dir, process.execPath, ['--test', '--test-reporter=tap', '--test-name-pattern=parses', 'test/']), { cwd: dir });
    // Node 22+ adds "(line 1 column 3)" to JSON.parse's message.
    assert.match(s.lines[0]!, /^✖ parses the config: SyntaxError: Expected property name or '\}' in JSON at position 2( \(line 1 column 3\))?$/, 'the error class is kept (only AssertionError is dropped)');
    assert.match(s.lines.join('\n'), /at test\/add\.test\.js:8:/);
  });
});

describe('real tsc output (the project\'s own TypeScript), run here', () => {
  const dir = path.join(tmp.dir, 'ts');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'cart.ts'), 'export const total: number = "0";\nexport function f(x: string): number { return x; }\n');
  const tsc = path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc');

  for (const pretty of [false, true]) {
    test(`--pretty ${pretty}: the first error with file, line and column, and how many`, () => {
      const s = summariseFailure(run(dir, process.execPath, [tsc, '--noEmit', '--strict', `--pretty`, String(pretty), 'cart.ts']), { cwd: dir });
      assert.equal(s.tool, 'tsc');
      assert.equal(s.lines[0], "cart.ts:1:14: Type 'string' is not assignable to type 'number'. (TS2322)");
      assert.match(s.lines[1]!, /^\+1 more \(2 errors\): cart\.ts:2:40: Type 'string' is not assignable to type 'number'/);
    });
  }
});

interface Fixture {
  file: string;
  tool: string;
  command: string;
  cwd: string;
  expect: { tool: string | null; lines: string[] };
}

describe('real output captured from each tool (test/fixtures/failure-output)', () => {
  const index = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'index.json'), 'utf8')) as { fixtures: Fixture[] };
  test('every captured file is checked', () => {
    const files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.txt')).sort();
    assert.deepEqual(index.fixtures.map((f) => f.file).sort(), files);
  });
  for (const f of index.fixtures) {
    test(`${f.file} (${f.tool})`, () => {
      const s = summariseFailure(fs.readFileSync(path.join(FIXTURES, f.file), 'utf8'), { cwd: f.cwd });
      assert.deepEqual(s, f.expect);
      assertBounded(s.lines);
    });
  }
});

describe('the tail, when no tool is recognised', () => {
  test('skips footers, counters, npm wrappers and stack frames', () => {
    const out = [
      '> app@1.0.0 check',
      '> ./check.sh',
      '',
      'checking links in docs/',
      'docs/guide.md: broken link to ./setup.md',
      '    at check (/repo/check.js:3:9)',
      '# tests 4',
      '# pass 3',
      '# duration_ms 211.007087',
      'npm error Lifecycle script `check` failed with error:',
      'npm error code 1',
    ].join('\n');
    const s = summariseFailure(out);
    assert.deepEqual(s, { tool: null, lines: ['checking links in docs/', 'docs/guide.md: broken link to ./setup.md'] });
  });

  test('output that is only noise gives no lines (the caller shows the exit code)', () => {
    assert.deepEqual(summariseFailure('# tests 1\n# fail 1\n# duration_ms 3.2\n').lines, []);
  });
});

describe('hostile output', () => {
  test('a secret in the failing assertion is redacted', () => {
    const token = `ghp_${'a1B2c3D4e5'.repeat(3)}abcdef`;
    const out = `not ok 1 - talks to the API\n  ---\n  location: '/r/test/api.test.js:3:1'\n  error: |-\n    expected token ${token} to be rejected\n  ...\n`;
    const s = summariseFailure(out, { cwd: '/r' });
    assert.ok(!s.lines.join('\n').includes(token), s.lines.join('\n'));
    assert.equal(s.lines[0], '✖ talks to the API: expected token [REDACTED:github-pat] to be rejected');
  });

  test('many failures with endless names and messages stay a few short lines', () => {
    const many = Array.from({ length: 50 }, (_, i) => `not ok ${i + 1} - case ${i} ${'x'.repeat(500)}\n  ---\n  error: 'boom ${'y'.repeat(3000)}'\n  ...`).join('\n');
    const s = summariseFailure(`TAP version 13\n${many}\n${' '.repeat(60_000)}z\n`);
    assertBounded(s.lines);
    assert.match(s.lines[0]!, /^✖ case 0 x+…$/);
    assert.match(s.lines[1]!, /^\+49 more: case 1 x+…$/);
  });

  test('megabytes of output are read from their end, and still give at most a few lines', () => {
    const huge = Array.from({ length: 5000 }, (_, i) => `not ok ${i + 1} - case ${i}\n  ---\n  error: 'boom ${'y'.repeat(3000)}'\n  ...`).join('\n');
    const s = summariseFailure(`TAP version 13\n${huge}\n`);
    assertBounded(s.lines);
    assert.match(s.lines[0]!, /^✖ case 49\d\d: boom y+…$/, 'a failure from the last part of the output');
  });

  test('terminal escapes are gone', () => {
    const s = summariseFailure('\x1b[31mError: \x1b]0;pwned\x07disk full\x1b[0m\n');
    assert.deepEqual(s.lines, ['Error: disk full']);
  });
});

describe('the notification a failed task makes', () => {
  const dir = nodeProject('node-report', { 'test/add.test.js': ADD_TEST });
  const output = run(dir, process.execPath, ['--test', '--test-reporter=tap', 'test/']);
  const task: TaskRow = {
    id: 7, repo: dir, trigger: 'tests', kind: 'command', batch_id: 1, state: 'failed', created_at: '', started_at: '', finished_at: '',
    command: 'node --test test/', exit_code: 1, signal: null, duration_ms: 900, output, reason: null, data: {}, data_problem: null,
    held_reason: null, held_until: null, held_since: null,
  };

  test('the body is the failing assertion, not the last line (# duration_ms …)', () => {
    const n = reportTask(task, { notify: 'on_failure' }, undefined).notification!;
    assert.equal(n.title, 'node-report: tests failed');
    assert.ok(!n.body.includes('duration_ms'));
    assert.match(n.body, /^✖ adds small numbers: Expected values to be strictly equal: -1 !== 5\nat test\/add\.test\.js:5:3\n/);
    assert.ok(n.body.length <= BODY_MAX);
  });

  test('the daily log line carries the telling line too', () => {
    assert.match(reportTask(task, { notify: 'never' }, undefined).log, /`node --test test\/` failed with exit code 1 in 0\.9 s — ✖ adds small numbers: /);
  });

  test('an unrecognised failure: the command and its exit code, then its last real lines', () => {
    const n = reportTask({ ...task, command: './check.sh', output: 'checking\nlink docs/a.md is broken\n# duration_ms 12.5\n' }, { notify: 'on_failure' }, undefined).notification!;
    assert.equal(n.body, '`./check.sh` failed with exit code 1 in 0.9 s\nchecking\nlink docs/a.md is broken');
  });

  test('a passing run in notify: always never shows a footer either', () => {
    const n = reportTask({ ...task, state: 'done', exit_code: 0, output: 'ok 1 - adds\n1..1\n# pass 1\n# duration_ms 211.007087\n' }, { notify: 'always' }, undefined).notification!;
    assert.equal(n.body, '`node --test test/` passed in 0.9 s');
  });
});
