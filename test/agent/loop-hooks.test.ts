import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openDb } from '../../src/store/db.js';
import { createModelClient } from '../../src/model/client.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { trustRepo } from '../../src/policy/trust.js';
import { detectSandbox } from '../../src/policy/sandbox.js';
import { runAgentTask } from '../../src/agent/task.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { makeRepo } from '../support/git-repo.js';
import { tempDir } from '../support/temp.js';

let fake: FakeAnthropic;
const tmp = tempDir('kairos-loop-hooks-');
before(async () => (fake = await startFakeAnthropic()));
after(async () => {
  await fake.close();
  tmp.cleanup();
});

const POLICY = parsePolicyText('permissions: { allow: ["Edit", "Read"] }\nbudget: { task_usd: 1 }\nmodels: { act: claude-haiku-4-5 }\n', 'test.yaml');
const propose = { content: [{ type: 'tool_use' as const, name: 'propose', input: { summary: 'done' } }], stop_reason: 'tool_use' as const };
const edit = (n: number) => ({ content: [{ type: 'tool_use' as const, name: 'edit_file', input: { path: 'a.txt', old: `v${n}`, new: `v${n + 1}` } }], stop_reason: 'tool_use' as const });

/** One agent task with the user's hooks in $KAIROS_HOME/hooks.json (the file a real daemon reads). */
async function runWithHooks(name: string, hooks: Record<string, unknown>) {
  const home = path.join(tmp.dir, name);
  fs.mkdirSync(home, { recursive: true });
  fs.writeFileSync(path.join(home, 'hooks.json'), JSON.stringify({ hooks }));
  const db = openDb(path.join(home, 'kairos.db'));
  const repo = makeRepo();
  repo.commit('a', { 'a.txt': 'v1' });
  trustRepo(db, repo.dir);
  const model = createModelClient({ db, budget: POLICY.budget, models: POLICY.models, apiKey: 'sk-ant-test', baseURL: fake.url, sleep: async () => {} });
  try {
    return await runAgentTask(
      { taskId: 1, repo: repo.dir, trigger: 't', instruction: 'bump a.txt', context: '', policy: POLICY },
      { db, home, model, sandbox: detectSandbox(), log: { debug() {}, info() {}, warn() {}, error() {} }, notify: () => {} },
    );
  } finally {
    db.close();
    repo.cleanup();
  }
}

test('a Stop hook that blocks sends the model back to work with its reason; the second stop goes through', async () => {
  const marker = path.join(tmp.dir, 'stop-blocked-once');
  fake.reset();
  fake.script(edit(1), propose, edit(2), propose);
  const cmd = `if [ -e ${marker} ]; then exit 0; fi; touch ${marker}; echo 'tests still fail: bump once more' >&2; exit 2`;
  const r = await runWithHooks('stop', { Stop: [{ hooks: [{ type: 'command', command: cmd }] }] });
  assert.equal(r.state, 'proposed', r.reason);
  const requests = fake.messageRequests();
  assert.equal(requests.length, 4);
  assert.match(JSON.stringify(requests[2]!.body), /A Stop hook asks you to continue: tests still fail: bump once more/);
  if (r.state === 'proposed') assert.match(r.proposal.diff.toString(), /\+v3/);
});

test('a BeforeModelCall hook that blocks stops the task before any model call; SessionEnd still fires', async () => {
  const ended = path.join(tmp.dir, 'session-ended');
  fake.reset();
  const r = await runWithHooks('before', {
    BeforeModelCall: [{ hooks: [{ type: 'command', command: "echo 'no model calls during the demo' >&2; exit 2" }] }],
    SessionEnd: [{ hooks: [{ type: 'command', command: `cat > ${ended}` }] }],
  });
  assert.equal(r.state, 'failed');
  assert.match(r.reason, /blocked by a BeforeModelCall hook: no model calls during the demo/);
  assert.equal(fake.messageRequests().length, 0);
  assert.match(fs.readFileSync(ended, 'utf8'), /"hook_event_name":"SessionEnd"/);
});
