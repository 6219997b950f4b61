import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicyText, PolicyError } from '../../src/policy/load.js';

test('after_apply: rerun is accepted with a run command, and refused with file:line and a fix without one or with another value', () => {
  const ok = parsePolicyText('triggers:\n  - name: tests\n    on: {manual: true}\n    run: npm test\n    ask: fix it\n    after_apply: rerun\n', 'ok.yaml');
  assert.equal(ok.triggers[0]!.after_apply, 'rerun');
  assert.equal(parsePolicyText('triggers:\n  - name: t\n    on: {manual: true}\n    run: x\n', 'plain.yaml').triggers[0]!.after_apply, undefined);

  const refused = (text: string): PolicyError => {
    try {
      parsePolicyText(text, 'p.yaml');
    } catch (e) {
      assert.ok(e instanceof PolicyError);
      return e;
    }
    assert.fail('accepted');
  };
  const noRun = refused('triggers:\n  - name: fix\n    on: {manual: true}\n    ask: fix it\n    after_apply: rerun\n');
  assert.deepEqual(noRun.problems.map((p) => [p.line, p.field]), [[5, 'triggers[0].after_apply']]);
  assert.match(noRun.message, /p\.yaml:5:\d+: .*after_apply: rerun needs a run command to run again — add run: <command>, or remove after_apply/);
  const other = refused('triggers:\n  - name: t\n    on: {manual: true}\n    run: x\n    after_apply: always\n');
  assert.match(other.message, /p\.yaml:5:\d+: triggers\[0\]\.after_apply: 'always' is not allowed — use rerun/);
});
