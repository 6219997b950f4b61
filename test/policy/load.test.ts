import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadPolicyFile, loadPolicyOrDefault, parsePolicyText, PolicyError, shippedPolicyPath, type PolicyProblem } from '../../src/policy/load.js';
import { parseDuration } from '../../src/policy/duration.js';
import { REPO_ROOT } from '../support/paths.js';

const ROOT = REPO_ROOT;
const FIX = path.join(ROOT, 'test', 'fixtures', 'policies');

/** Loads a fixture that must fail; returns its problems as [line, col, field] and the error. */
function failing(name: string): { where: Array<[number | undefined, number | undefined, string]>; err: PolicyError } {
  const file = path.join(FIX, name);
  try {
    loadPolicyFile(file);
  } catch (e) {
    assert.ok(e instanceof PolicyError, `expected a PolicyError, got ${String(e)}`);
    assert.equal(e.file, file);
    // Every line of the message names the file, the line and the column.
    for (const [i, line] of e.message.split('\n').entries()) {
      const p = e.problems[i] as PolicyProblem;
      assert.ok(line.startsWith(`${file}:${p.line}:${p.col}: `), line);
      assert.ok(line.includes(' — '), `no fix in: ${line}`);
    }
    return { where: e.problems.map((p) => [p.line, p.col, p.field]), err: e };
  }
  assert.fail(`${name} loaded without error`);
}

describe('parsePolicyText / loadPolicyFile', () => {
  test('a valid file parses, with defaults filled in', () => {
    const p = loadPolicyFile(path.join(FIX, 'valid.yaml'));
    assert.deepEqual(
      p.triggers.map((t) => [t.name, t.notify, t.enabled]),
      [
        ['tests', 'on_failure', true],
        ['nightly', 'always', true],
        ['commits', 'always', true],
      ],
    );
    assert.deepEqual(p.triggers[0]?.on.fs, ['src/**/*.ts', 'test/**']);
    assert.equal(p.triggers[1]?.on.cron, '0 3 * * *');
    assert.equal(p.budget?.day_usd, 1.5);
    assert.deepEqual(p.permissions, { allow: ['Bash(npm test)'], ask: [], deny: [] });
  });

  test('an empty or comment-only file is an empty policy', () => {
    assert.deepEqual(parsePolicyText('', 'empty.yaml'), { version: 1, triggers: [] });
    assert.deepEqual(parsePolicyText('# nothing yet\n', 'c.yaml'), { version: 1, triggers: [] });
  });

  test('wrong types: each problem names its line, column and field', () => {
    const { where, err } = failing('wrong-types.yaml');
    assert.deepEqual(where, [
      [4, 11, 'triggers[0].on.fs'],
      [5, 10, 'triggers[0].run'],
      [6, 16, 'triggers[0].settle_ms'],
      [7, 14, 'triggers[0].enabled'],
      [9, 12, 'budget.day_usd'],
    ]);
    assert.match(err.message, /triggers\[0\]\.on\.fs: expected a list, got text 'src\/\*\*' — write a list of globs/);
    assert.match(err.message, /budget\.day_usd: expected a number/);
  });

  test('unknown keys are errors, with a suggestion when one is close', () => {
    const { where, err } = failing('unknown-keys.yaml');
    assert.deepEqual(where, [
      [5, 7, 'triggers[0].on.branch'],
      [7, 5, 'triggers[0].settle'],
      [8, 1, 'permisions'],
    ]);
    assert.match(err.message, /unknown key 'settle' — did you mean 'settle_ms'\?/);
    assert.match(err.message, /unknown key 'permisions' — did you mean 'permissions'\?/);
    assert.match(err.message, /unknown key 'branch' — remove it; allowed here: fs, git, cron, manual/);
  });

  test('globs must compile and stay inside the repository', () => {
    const { where, err } = failing('bad-globs.yaml');
    assert.deepEqual(where, [
      [6, 11, 'triggers[0].on.fs[1]'],
      [7, 11, 'triggers[0].on.fs[2]'],
      [8, 11, 'triggers[0].on.fs[3]'],
      [9, 11, 'triggers[0].on.fs[4]'],
    ]);
    assert.match(err.message, /'\/etc\/\*\*' is an absolute path/);
    assert.match(err.message, /'\.\.\/other\/\*\*' leaves the repository/);
    assert.match(err.message, /'src\/\[abc' is not a valid glob: missing closing "\]"/);
    assert.match(err.message, /'src\/\{a,b' is not a valid glob: missing closing "\}"/);
  });

  test('cron expressions must be valid five-field expressions', () => {
    const { where, err } = failing('bad-cron.yaml');
    assert.deepEqual(where, [
      [4, 13, 'triggers[0].on.cron'],
      [7, 17, 'triggers[1].on.cron'],
      [10, 17, 'triggers[2].on.cron'],
    ]);
    assert.match(err.message, /'61 \* \* \* \*' is not a valid cron expression \(.*59.*\)/);
    assert.match(err.message, /has 6 fields, a cron expression has 5/);
  });

  test('a YAML syntax error gives its line and column', () => {
    const { where, err } = failing('syntax-error.yaml');
    assert.deepEqual(where, [[5, 5, '']]);
    assert.match(err.message, /YAML syntax error: Flow sequence .* — /);
    assert.deepEqual(failing('tabs.yaml').where, [[2, 1, '']]);
    assert.match(failing('tabs.yaml').err.message, /indent with spaces, not tabs/);
  });

  test('duplicate trigger names point at the second name', () => {
    const { where, err } = failing('duplicate-names.yaml');
    assert.deepEqual(where, [[8, 11, 'triggers[2].name']]);
    assert.match(err.message, /duplicate trigger name 'tests' \(already used by triggers\[0\]\)/);
  });

  test('a trigger that does nothing is an error; notify: always makes it notification-only', () => {
    const { where, err } = failing('does-nothing.yaml');
    assert.deepEqual(where, [
      [2, 5, 'triggers[0]'],
      [7, 13, 'triggers[1].ask_on'],
    ]);
    assert.match(err.message, /trigger 'silent' does nothing: it has neither run nor ask — .*notify: always/);
    const ok = parsePolicyText('triggers:\n  - name: silent\n    on: {git: [commit]}\n    notify: always\n', 'x.yaml');
    assert.equal(ok.triggers[0]?.run, undefined);
  });

  test('problems in one file are all reported at once, in line order', () => {
    const text = ['triggers:', '  - name: a', '    on: {fs: ["/x"]}', '    run: x', '  - name: a', '    on: {cron: "bad"}', '    run: y', 'budget: {day_usd: -1}', ''].join('\n');
    try {
      parsePolicyText(text, 'multi.yaml');
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof PolicyError);
      assert.deepEqual(
        e.problems.map((p) => [p.line, p.field]),
        [
          [3, 'triggers[0].on.fs[0]'],
          [5, 'triggers[1].name'],
          [6, 'triggers[1].on.cron'],
          [8, 'budget.day_usd'],
        ],
      );
      assert.equal(e.message.split('\n').length, 4);
      assert.equal(String(e).split('\n')[0], `PolicyError: multi.yaml:3:15: triggers[0].on.fs[0]: '/x' is an absolute path — globs are relative to the repository root: write e.g. "src/**/*.ts"`);
    }
  });

  test('a missing key points at its parent; the root must be a mapping', () => {
    try {
      parsePolicyText('triggers:\n  - run: make\n    notify: always\n', 'm.yaml');
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof PolicyError);
      assert.deepEqual(
        e.problems.map((p) => [p.line, p.col, p.field]),
        [
          [2, 5, 'triggers[0].name'],
          [2, 5, 'triggers[0].on'],
        ],
      );
      assert.match(e.message, /missing required key 'name'/);
    }
    assert.throws(() => parsePolicyText('- a\n- b\n', 'list.yaml'), /list\.yaml:1:1: expected a mapping .*, got a list/);
  });

  test('an unreadable or oversized file is a PolicyError naming the file', () => {
    const missing = path.join(os.tmpdir(), 'kairos-no-such-policy.yaml');
    assert.throws(() => loadPolicyFile(missing), (e: unknown) => e instanceof PolicyError && e.message.startsWith(`${missing}: cannot read the file (ENOENT)`));
    assert.throws(() => parsePolicyText(`# ${'x'.repeat(1024 * 1024)}\n`, 'big.yaml'), /big\.yaml: the policy is larger than 1 MiB/);
  });

  test('with `within`, a policy that links outside the directory is refused without reading it', () => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-within-')));
    try {
      const secret = path.join(dir, 'secret.env');
      fs.writeFileSync(secret, 'TOKEN=hunter2\n');
      const repo = path.join(dir, 'repo');
      fs.mkdirSync(path.join(repo, '.kairos'), { recursive: true });
      const file = path.join(repo, '.kairos', 'policy.yaml');
      fs.symlinkSync(secret, file);
      assert.throws(
        () => loadPolicyFile(file, { within: repo }),
        (e: unknown) => e instanceof PolicyError && /is a link to .*secret\.env, outside/.test(e.message) && !e.message.includes('hunter2'),
      );
      // Without `within` the link is followed, but a file that is not a mapping is not echoed.
      assert.throws(() => loadPolicyFile(file), (e: unknown) => e instanceof PolicyError && /expected a mapping .*, got text —/.test(e.message) && !e.message.includes('hunter2'));
      fs.rmSync(file);
      fs.writeFileSync(file, 'triggers: []\n');
      assert.deepEqual(loadPolicyFile(file, { within: repo }).triggers, []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('permission rules are checked with the permission layer\'s own parser', () => {
    try {
      parsePolicyText('permissions:\n  allow:\n    - Bash npm test\n    - Bash()\n  deny: ["Read(**/.env*)", "mcp__x(y)"]\n', 'r.yaml');
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof PolicyError);
      assert.deepEqual(
        e.problems.map((p) => [p.line, p.col, p.field]),
        [
          [3, 7, 'permissions.allow[0]'],
          [4, 7, 'permissions.allow[1]'],
          [5, 28, 'permissions.deny[1]'],
        ],
      );
      assert.match(e.message, /'Bash npm test' is not a permission rule — /);
      assert.match(e.message, /MCP rules take no parentheses/);
    }
  });

  test('YAML 1.1 booleans are not guessed: `enabled: yes` is text', () => {
    assert.throws(() => parsePolicyText('triggers:\n  - {name: a, on: {manual: true}, run: x, enabled: yes}\n', 'y.yaml'), /y\.yaml:2:52: triggers\[0\]\.enabled: expected true or false, got text 'yes'/);
  });
});

describe('parseDuration', () => {
  const cases: Array<[Parameters<typeof parseDuration>[0], number]> = [
    [undefined, 0],
    [0, 0],
    [250, 250],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
  ];
  for (const [input, ms] of cases) {
    test(`${String(input)} → ${ms}`, () => assert.equal(parseDuration(input), ms));
  }
  test('rejects what the schema rejects', () => {
    assert.throws(() => parseDuration('5 minutes' as never), RangeError);
    assert.throws(() => parseDuration(-1), RangeError);
    assert.throws(() => parseDuration(1.5), RangeError);
  });
});

describe('loadPolicyOrDefault', () => {
  let home: string;
  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-home-'));
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  test('without a user file it is the shipped default', () => {
    assert.deepEqual(loadPolicyOrDefault(home), loadPolicyFile(shippedPolicyPath('default')));
  });

  test('a user file is merged over the shipped default', () => {
    fs.writeFileSync(
      path.join(home, 'policy.yaml'),
      'triggers:\n  - name: tests\n    on: {fs: ["src/**"]}\n    run: npm test\nbudget: {day_usd: 5}\npermissions:\n  allow: ["Bash(npm test)"]\n',
    );
    const shipped = loadPolicyFile(shippedPolicyPath('default'));
    const p = loadPolicyOrDefault(home);
    assert.deepEqual(p.triggers.map((t) => t.name), ['tests']);
    assert.equal(p.budget?.day_usd, 5);
    assert.equal(p.budget?.month_usd, shipped.budget?.month_usd);
    assert.deepEqual(p.models, shipped.models);
    assert.ok(p.permissions?.allow.includes('Bash(npm test)'));
    assert.deepEqual(p.permissions?.deny, shipped.permissions?.deny);
  });

  test('an invalid user file throws PolicyError naming it', () => {
    fs.writeFileSync(path.join(home, 'policy.yaml'), 'triggers: 3\n');
    assert.throws(() => loadPolicyOrDefault(home), (e: unknown) => e instanceof PolicyError && e.message.startsWith(`${path.join(home, 'policy.yaml')}:1:11: triggers: expected a list`));
  });

  test('finds policies/default.yaml from the compiled dist/src/policy/load.js too', () => {
    // Compile the loader with the real compiler into a package-shaped temp dir, as `npm run build` would.
    const pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-pkg-'));
    try {
      const tsconfig = path.join(pkg, 'tsconfig.json');
      fs.writeFileSync(
        tsconfig,
        JSON.stringify({
          extends: path.join(ROOT, 'tsconfig.json'),
          compilerOptions: { outDir: path.join(pkg, 'dist'), rootDir: ROOT, sourceMap: false, typeRoots: [path.join(ROOT, 'node_modules', '@types')] },
          include: [],
          files: [path.join(ROOT, 'src', 'policy', 'load.ts')],
        }),
      );
      execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], { stdio: 'pipe' });
      // Kairos's package root is the folder whose package.json names it (src/core/package-root.ts).
      fs.writeFileSync(path.join(pkg, 'package.json'), '{"name":"kairos","type":"module"}\n');
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
      fs.mkdirSync(path.join(pkg, 'policies'));
      // A marker proves the compiled module read this package's file, not the source tree's.
      const shipped = fs.readFileSync(path.join(ROOT, 'policies', 'default.yaml'), 'utf8').replace('day_usd: 2', 'day_usd: 1.25');
      fs.writeFileSync(path.join(pkg, 'policies', 'default.yaml'), shipped);
      const loader = path.join(pkg, 'dist', 'src', 'policy', 'load.js');
      assert.ok(fs.existsSync(loader));
      const out = execFileSync(
        process.execPath,
        ['--input-type=module', '-e', `const m = await import(${JSON.stringify(loader)}); console.log(JSON.stringify([m.shippedPolicyPath(), m.loadPolicyOrDefault(${JSON.stringify(home)} + '/none').budget]))`],
        { encoding: 'utf8' },
      );
      assert.deepEqual(JSON.parse(out), [path.join(pkg, 'policies', 'default.yaml'), { task_usd: 0.5, day_usd: 1.25, month_usd: 20 }]);
    } finally {
      fs.rmSync(pkg, { recursive: true, force: true });
    }
  });
});
