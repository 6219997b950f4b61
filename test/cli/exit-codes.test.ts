/**
 * The CLI's exit codes, from the real `kairos` process: 2 for a command line (or an input) that is
 * wrong, 3 when the command needs a daemon and none runs, 0 for help and version, and a message
 * without a stack for each.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kairos, makeHome } from '../support/kairos.js';

const STACK = /^\s+at .+:\d+:\d+\)?$/m;

function withHome(fn: (h: ReturnType<typeof makeHome>) => void): void {
  const h = makeHome();
  try {
    fn(h);
  } finally {
    h.cleanup();
  }
}

test('usage errors exit 2: our own (UsageError) and commander\'s (unknown option, unknown command, bad --limit, missing option)', () => {
  withHome((h) => {
    for (const [args, said] of [
      [['logs', '--date', 'yesterday'], /^kairos: --date yesterday: expected a day as YYYY-MM-DD/],
      [['events', '--type', 'nonsense'], /^kairos: --type nonsense: expected one of /],
      [['events', '--bogus'], /unknown option '--bogus'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['tasks', '--limit', 'many'], /--limit/],
      [['apply', 'abc'], /required option '--hash <sha256>' not specified/],
    ] as const) {
      const r = kairos([...args], h.env);
      assert.equal(r.code, 2, `kairos ${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, said);
      assert.doesNotMatch(r.stderr, STACK);
    }
  });
});

test('`kairos run` with a broken policy cannot start and exits 2 (a restart would not help), naming the file and line', () => {
  withHome((h) => {
    fs.writeFileSync(path.join(h.home, 'policy.yaml'), 'triggers:\n  - name: t\n    on: { manual: true }\n    run: 42\n');
    const r = kairos(['run'], h.env);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /policy\.yaml:\d+:\d+: triggers/);
    assert.doesNotMatch(r.stderr, STACK);
  });
});

test('a command that needs the daemon exits 3 when none runs; help and --version exit 0', () => {
  withHome((h) => {
    const r = kairos(['poke'], h.env);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /^kairos: no Kairos daemon is running for /);
    assert.equal(kairos(['--help'], h.env).code, 0);
    assert.match(kairos(['--help'], h.env).stdout, /Exit codes: 0 ok; 1 failed; 2 bad input/);
    assert.equal(kairos(['events', '--help'], h.env).code, 0);
    assert.equal(kairos(['--version'], h.env).code, 0);
  });
});
