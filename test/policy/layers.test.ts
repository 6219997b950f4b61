import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { AuditLog } from '../../src/policy/audit.js';
import { ALLOW, deny, type Step, type Verdict } from '../../src/policy/decision.js';
import { combine } from '../../src/policy/decision.js';
import { explainCall, formatExplanation } from '../../src/policy/explain.js';
import { evaluateStep } from '../../src/policy/layers.js';
import { allowOthers, makeContext } from './policy-context.js';
import { ensureBashGrammar } from '../../src/policy/shell-grammar.js';

// The layers read commands with the bash grammar, which loads on first use (an agent task awaits it the same way).
// A hook, not a top-level await: run-tests.mjs runs many files in one process, and code after a
// top-level await of a promise another file created would register its tests outside this file.
before(() => ensureBashGrammar());

describe('the eight layers', () => {
  let dir: string;
  let repo: string;
  let db: Db;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-layers-'));
    repo = path.join(dir, 'repo');
    fs.mkdirSync(repo);
    db = openDb(path.join(dir, 'kairos.db'));
  });
  after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const tool = (command: string): Step => ({ repo, origin: 'agent', taskId: 7, action: { type: 'tool', call: { tool: 'Bash', command } } });

  test('combine: deny beats ask beats allow', () => {
    assert.equal(combine([]).decision, 'allow');
    assert.equal(combine([ALLOW, { decision: 'ask', reason: 'a' }]).decision, 'ask');
    assert.equal(combine([{ decision: 'ask', reason: 'a' }, deny('d'), ALLOW]).decision, 'deny');
    assert.equal(combine([deny('first'), deny('second')]).decision === 'deny' && (combine([deny('first'), deny('second')]) as { reason: string }).reason, 'first');
  });

  test('layers run in the fixed order and a deny stops the rest (spend never sees a refused step)', () => {
    const seen: string[] = [];
    const ev = evaluateStep(tool('npm test'), makeContext({ permissions: { allow: ['Bash(npm test)'] } }), {
      trust: (): Verdict => (seen.push('trust'), deny('repository not trusted')),
      spend: (): Verdict => (seen.push('spend'), ALLOW),
    });
    assert.deepEqual(seen, ['trust']);
    assert.deepEqual(ev.trail.map((t) => t.layer), ['validate', 'trust']);
    assert.equal(ev.decidedBy, 'trust');
    const ok = evaluateStep(tool('npm test'), makeContext({ permissions: { allow: ['Bash(npm test)'] } }), allowOthers);
    assert.deepEqual(ok.trail.map((t) => t.layer), ['validate', 'trust', 'gate', 'spend', 'permission', 'sandbox', 'approval', 'filter']);
    assert.equal(ok.verdict.decision, 'allow');
  });

  test('an ask lets later layers deny', () => {
    const ev = evaluateStep(tool('cat .env'), makeContext(), allowOthers);
    assert.equal(ev.verdict.decision, 'deny');
    assert.equal(ev.decidedBy, 'filter');
  });

  test('a layer that throws denies (fail closed)', () => {
    const ev = evaluateStep(tool('npm test'), makeContext(), { trust: () => { throw new Error('boom'); }, spend: () => ALLOW });
    assert.equal(ev.verdict.decision, 'deny');
    assert.match(ev.verdict.decision === 'deny' ? ev.verdict.reason : '', /trust layer failed: boom/);
  });

  test('unattended, an ask becomes a queued approval, never an allow', () => {
    const ev = evaluateStep(tool('make deploy'), makeContext({ attended: false }), allowOthers);
    assert.deepEqual([ev.verdict.decision, ev.verdict.decision === 'ask' && ev.verdict.queued], ['ask', true]);
    const attended = evaluateStep(tool('make deploy'), makeContext({ attended: true }), allowOthers);
    assert.equal(attended.verdict.decision === 'ask' && attended.verdict.queued, undefined);
  });

  test('an apply to the user tree needs a human; the user at the CLI is that human', () => {
    const apply = (origin: Step['origin']): Step => ({ repo, origin, action: { type: 'apply', target: 'user-tree', detail: 'proposal 3' } });
    assert.equal(evaluateStep(apply('agent'), makeContext(), allowOthers).verdict.decision, 'ask');
    assert.equal(evaluateStep(apply('user'), makeContext(), allowOthers).verdict.decision, 'allow');
  });

  test('a malformed step is denied by validate', () => {
    const ev = evaluateStep({ repo, origin: 'agent', action: { type: 'tool', call: { tool: 'Bash' } } } as unknown as Step, makeContext(), allowOthers);
    assert.equal(ev.decidedBy, 'validate');
  });

  test('every verdict goes to the audit table, redacted', () => {
    const audit = new AuditLog(db);
    const secret = `ghp_${'a1B2c3D4e5'.repeat(4)}`;
    const ev = evaluateStep(tool(`curl -H "Authorization: token ${secret}" https://api.github.com`), makeContext({ permissions: { deny: ['Bash(curl:*)'] } }), { ...allowOthers, audit });
    const rows = audit.recent({ taskId: 7 }).filter((r) => r.eval_id === ev.evalId).reverse();
    // One row per layer: spend has nothing to decide for a tool call, and the layers after the deny were not reached.
    assert.deepEqual(rows.map((r) => [r.layer, r.verdict]), [['validate', 'allow'], ['trust', 'allow'], ['gate', 'allow'], ['spend', 'n/a'], ['permission', 'deny'], ['sandbox', 'n/a'], ['approval', 'n/a'], ['filter', 'n/a']]);
    assert.match(rows[3]!.reason ?? '', /only model calls cost money/);
    assert.match(rows[5]!.reason ?? '', /not reached: denied by the permission layer/);
    const denied = rows[4]!;
    assert.equal(denied.rule, 'Bash(curl:*)');
    assert.equal(denied.final, 'deny');
    assert.equal(denied.repo, repo);
    assert.match(denied.what, /^Bash\(curl/);
    const all = JSON.stringify(db.prepare('SELECT * FROM audit').all());
    assert.ok(!all.includes(secret), 'secret written to the audit table');
  });

  test('queued asks are marked in the audit table', () => {
    const audit = new AuditLog(db);
    const ev = evaluateStep(tool('make something'), makeContext({ attended: false }), { ...allowOthers, audit });
    const row = audit.recent().find((r) => r.eval_id === ev.evalId && r.layer === 'permission')!;
    assert.deepEqual([row.verdict, row.queued], ['ask', 1]);
  });

  test('explain names the layer, the rule and the parts, and writes nothing', () => {
    const before = (db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n;
    const ctx = makeContext({ permissions: { allow: ['Bash(npm test)'], deny: ['Bash(curl:*)'] } });
    const e = explainCall('Bash(npm test && curl x | sh)', ctx, allowOthers, { repo });
    assert.equal(e.verdict.decision, 'deny');
    assert.equal(e.decidedBy, 'permission');
    assert.equal(e.verdict.rule, 'Bash(curl:*)');
    assert.deepEqual(e.parts.map((p) => [p.subject, p.verdict.decision]), [['Bash(npm test)', 'allow'], ['Bash(curl x)', 'deny'], ['Bash(sh)', 'ask']]);
    const text = formatExplanation(e);
    assert.match(text, /DENY — decided by the permission layer/);
    assert.match(text, /rule: Bash\(curl:\*\)/);
    assert.equal((db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n, before);
  });
});
