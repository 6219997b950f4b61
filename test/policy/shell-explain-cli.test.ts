// `kairos policy explain` (the real CLI, in a real trusted repository) on the commands issue 10
// found walking around deny rules, and a malformed call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeHome, kairos } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';

interface ExplainJson {
  verdict: { decision: string; reason?: string };
  decidedBy?: string;
  parts: Array<{ subject: string; verdict: { decision: string } }>;
}

test('policy explain denies what wrappers, braces, here-strings and arithmetic used to hide', () => {
  const h = makeHome('permissions: { allow: ["Bash(*)"], deny: ["Bash(curl:*)", "Bash(rm:*)"] }\n');
  const repo = makeRepo();
  try {
    assert.equal(kairos(['trust', repo.dir], h.env).code, 0);
    const explain = (call: string): ExplainJson => {
      const r = kairos(['policy', 'explain', call, '--repo', repo.dir, '--json'], h.env);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as ExplainJson;
    };
    for (const [call, denied] of [
      ['Bash(time -p curl x)', 'Bash(curl x)'],
      ['Bash({rm,-rf,/tmp/x})', 'Bash(rm -rf /tmp/x)'],
      ['Bash(cat <<< "$(curl x)")', 'Bash(curl x)'],
      ['Bash(echo $((1+$(curl x))))', 'Bash(curl x)'],
      ['Bash(timeout -s KILL 5 env -i nice -n 5 curl x)', 'Bash(curl x)'],
    ] as const) {
      const e = explain(call);
      assert.equal(e.verdict.decision, 'deny', `${call}: ${e.verdict.reason}`);
      assert.equal(e.decidedBy, 'permission');
      assert.ok(e.parts.some((p) => p.subject === denied && p.verdict.decision === 'deny'), `${call}: ${JSON.stringify(e.parts)}`);
    }
    const dynamic = explain('Bash(sh -c "$X")');
    assert.equal(dynamic.verdict.decision, 'ask');
    assert.match(dynamic.verdict.reason ?? '', /only known at run time/);

    const text = kairos(['policy', 'explain', 'Bash(time -p curl x)', '--repo', repo.dir], h.env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /DENY — decided by the permission layer/);
    assert.match(text.stdout, /DENY +Bash\(curl x\) +\(Bash\(curl x\) is denied by rule Bash\(curl:\*\)\)/);
  } finally {
    repo.cleanup();
    h.cleanup();
  }
});

test("policy explain 'Bash(' is a clear usage error, not a stack trace", () => {
  const h = makeHome();
  const repo = makeRepo();
  try {
    for (const bad of ['Bash(', 'Bash(npm test', '(npm test)']) {
      const r = kairos(['policy', 'explain', bad, '--repo', repo.dir], h.env);
      assert.equal(r.code, 2, `${bad}: ${r.stdout}`);
      assert.match(r.stderr, /^kairos: policy explain: '.*' (has no closing parenthesis|is not a tool call) — /);
      assert.match(r.stderr, /Bash\(npm test\)/, 'names a correct form');
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  } finally {
    repo.cleanup();
    h.cleanup();
  }
});
