import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeHome, kairos, kairosJson, spawnDaemon, waitFor } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { startFakeAnthropic } from '../support/fake-anthropic.js';
import { treeHash } from '../support/tree-hash.js';
import { fence } from '../support/fence.js';
import { detectSandbox } from '../../src/policy/sandbox.js';

interface TaskJson {
  id: number;
  kind: string;
  trigger: string;
  state: string;
  reason: string | null;
  proposal?: { id: string; hash: string; summary: string; files: string[] };
}

const tool = (name: string, input: Record<string, unknown>) => ({ content: [{ type: 'tool_use' as const, name, input }], stop_reason: 'tool_use' as const });

test('a failing test → the agent reads, edits in its worktree, runs the test, proposes → apply with the hash; a wrong hash is refused; undo restores', async () => {
  const fake = await startFakeAnthropic();
  const escapeAbs = path.join(os.tmpdir(), `kairos-escape-${process.pid}.txt`);
  const h = makeHome(`
triggers:
  - name: tests
    on: { fs: ["src/**"] }
    settle_ms: 300
    run: node --test test/
    ask: "the tests failed: find the cause and propose a minimal fix"
    ask_on: failure
    notify: never
permissions:
  allow: ["Bash(node --test:*)"]
budget: { task_usd: 1, day_usd: 5 }
models: { act: claude-sonnet-4-6, triage: claude-haiku-4-5 }
`);
  h.env.ANTHROPIC_API_KEY = 'sk-ant-test-not-a-real-key';
  h.env.ANTHROPIC_BASE_URL = fake.url;
  const repo = makeRepo();
  try {
    repo.write('package.json', '{ "type": "module" }\n');
    repo.write('src/add.js', 'export const add = (a, b) => a - b;\n');
    repo.write('test/add.test.js', "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from '../src/add.js';\ntest('adds', () => assert.equal(add(2, 3), 5));\n");
    repo.commit('add, with a bug');
    assert.equal(kairos(['trust', repo.dir], h.env).code, 0);

    fake.script(
      tool('read_file', { path: 'src/add.js' }),
      // The worst case: the model tries to write outside its worktree, by .. and by absolute path.
      { content: [{ type: 'tool_use', name: 'write_file', input: { path: '../escape.txt', content: 'x' } }, { type: 'tool_use', name: 'write_file', input: { path: escapeAbs, content: 'x' } }], stop_reason: 'tool_use' },
      tool('edit_file', { path: 'src/add.js', old: 'a - b', new: 'a + b' }),
      tool('run_command', { command: 'node --test test/' }),
      tool('propose', { summary: 'add() subtracted; it now adds' }),
    );
    const before = treeHash(repo.dir);
    const d = await spawnDaemon([repo.dir], h.env);
    try {
      assert.equal(kairos(['poke', '--repo', repo.dir, '--trigger', 'tests'], h.env).code, 0);
      const agentTask = await waitFor(
        () => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.kind === 'agent' && ['proposed', 'failed', 'done'].includes(t.state)),
        { what: 'agent task finished', timeoutMs: 90_000 },
      ).catch((e) => {
        throw new Error(`${e.message}\ntasks: ${JSON.stringify(kairosJson(['tasks'], h.env))}\ndaemon: ${d.output()}\nlog: ${fs.readFileSync(path.join(h.home, 'logs', 'kairos.log'), 'utf8').slice(-3000)}`);
      });
      assert.equal(agentTask.state, 'proposed', `agent task ended ${agentTask.state}: ${agentTask.reason}`);
      const p = agentTask.proposal!;
      assert.deepEqual(p.files, ['src/add.js']);
      assert.match(p.hash, /^[0-9a-f]{64}$/);
      assert.equal(treeHash(repo.dir), before, "the user's tree changed before approval");
      assert.equal(fs.existsSync(path.join(path.dirname(repo.dir), 'escape.txt')), false);
      assert.equal(fs.existsSync(escapeAbs), false);

      // What the model saw: its escapes were refused, and (with a sandbox) the test passed in the worktree.
      const bodies = fake.rawBodies.join('\n');
      assert.match(bodies, /denied by the validate layer: '\.\.\/escape\.txt' leaves the repository/);
      assert.match(bodies, /denied by the validate layer: '[^']*kairos-escape-\d+\.txt' is an absolute path outside the repository/);
      if (detectSandbox().available) assert.match(bodies, /pass 1/);
      assert.ok(!bodies.includes('sk-ant-test-not-a-real-key'));

      const wrong = kairos(['apply', p.id, '--hash', 'f'.repeat(64)], h.env);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /hash/i);
      assert.equal(treeHash(repo.dir), before);

      const ok = kairos(['apply', p.id, '--hash', p.hash], h.env);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(fs.readFileSync(path.join(repo.dir, 'src/add.js'), 'utf8'), 'export const add = (a, b) => a + b;\n');
      const again = kairos(['apply', p.id, '--hash', p.hash], h.env);
      assert.notEqual(again.code, 0, 'a proposal applies once');

      // The daemon's own write must not fire the trigger again.
      const countAfterApply = kairosJson<TaskJson[]>(['tasks'], h.env).length;
      await fence(repo, h.home); // the apply's own write has reached the daemon and been settled
      assert.equal(kairosJson<TaskJson[]>(['tasks'], h.env).length, countAfterApply, 'applying the proposal triggered the daemon');

      const undo = kairos(['undo', p.id], h.env);
      assert.equal(undo.code, 0, undo.stderr);
      assert.equal(treeHash(repo.dir), before, 'undo restores the tree byte for byte');
    } finally {
      d.kill('SIGTERM');
      await d.exited;
    }
  } finally {
    await fake.close();
    repo.cleanup();
    h.cleanup();
    fs.rmSync(escapeAbs, { force: true });
  }
});
