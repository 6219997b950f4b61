// The hostile command table (hostile-commands.ts) through all eight policy layers, on a real
// directory, under each group's policy context.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluateStep } from '../../src/policy/layers.js';
import { loadPolicyFile, shippedPolicyPath } from '../../src/policy/load.js';
import { allowOthers, makeContext } from './policy-context.js';
import { CONTEXTS, GROUPS, type Context } from './hostile-commands.js';
import { ensureBashGrammar } from '../../src/policy/shell-grammar.js';

// The layers read commands with the bash grammar, which loads on first use (an agent task awaits it the same way).
await ensureBashGrammar();

const total = GROUPS.reduce((n, g) => n + g.cases.length, 0);

function contextFor(c: Context) {
  const permissions = c.permissions === 'shipped' ? loadPolicyFile(shippedPolicyPath('default')).permissions : c.permissions;
  return makeContext({
    permissions: permissions ?? {},
    ...(c.sandbox === false ? { sandbox: { backend: 'none' as const, available: false, detail: 'test: no sandbox' } } : {}),
  });
}

describe('hostile command table', () => {
  let root: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-hostile-'));
    for (const d of ['src', 'out', '.git/hooks', '.kairos']) fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.writeFileSync(path.join(root, '.env'), 'TOKEN=x\n');
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  test(`has at least 200 commands (${total}), each group naming its source`, () => {
    assert.ok(total >= 200, `only ${total}`);
    for (const g of GROUPS) assert.ok(g.source.length > 0 && g.cases.length > 0, g.name);
  });

  for (const g of GROUPS) {
    describe(`${g.name} [${g.context}]`, () => {
      for (const [command, expected, why] of g.cases) {
        test(`${JSON.stringify(command).slice(0, 90)} → ${expected}${why ? ` (${why})` : ''}`, () => {
          const ctx = contextFor(CONTEXTS[g.context]);
          const ev = evaluateStep({ repo: root, origin: 'agent', action: { type: 'tool', call: { tool: 'Bash', command } } }, ctx, allowOthers);
          const reason = 'reason' in ev.verdict ? ev.verdict.reason : '';
          assert.equal(ev.verdict.decision, expected, `${JSON.stringify(command)}: ${ev.verdict.decision} by ${ev.decidedBy ?? 'every layer'}: ${reason}`);
        });
      }
    });
  }
});
