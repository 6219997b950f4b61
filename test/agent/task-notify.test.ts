import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openDb } from '../../src/store/db.js';
import { createModelClient } from '../../src/model/client.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { trustRepo } from '../../src/policy/trust.js';
import { detectSandbox } from '../../src/policy/sandbox.js';
import { clearKnownSecrets, registerKnownSecrets } from '../../src/policy/redact/redact.js';
import { runAgentTask } from '../../src/agent/task.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { makeRepo } from '../support/git-repo.js';
import { tempDir } from '../support/temp.js';

let fake: FakeAnthropic;
const tmp = tempDir('kairos-task-notify-');
before(async () => (fake = await startFakeAnthropic()));
after(async () => {
  clearKnownSecrets();
  await fake.close();
  tmp.cleanup();
});

const POLICY = parsePolicyText('budget: { task_usd: 1 }\nmodels: { act: claude-haiku-4-5 }\n', 'test.yaml');
const tool = (name: string, input: Record<string, unknown>) => ({ content: [{ type: 'tool_use' as const, name, input }], stop_reason: 'tool_use' as const });

// The tool executor parses each input into its handler's type; notify's message reaches it redacted,
// after validation, and must not be refused there for having grown.
test("a notify whose message redaction lengthens past the schema's 500 characters still reaches the human, redacted", async () => {
  const secret = 'hunter22';
  registerKnownSecrets([secret]);
  const message = `${secret} `.repeat(55).trimEnd(); // 494 characters: valid as the model sent it
  assert.ok(message.length <= 500);
  const home = path.join(tmp.dir, 'home');
  fs.mkdirSync(home, { recursive: true });
  const db = openDb(path.join(home, 'kairos.db'));
  const repo = makeRepo();
  repo.commit('a', { 'a.txt': 'v1' });
  trustRepo(db, repo.dir);
  const notified: string[] = [];
  fake.reset();
  fake.script(tool('notify', { message }), tool('sleep', { reason: 'told the human' }));
  try {
    const model = createModelClient({ db, budget: POLICY.budget, models: POLICY.models, apiKey: 'sk-ant-test', baseURL: fake.url, sleep: async () => {} });
    const r = await runAgentTask(
      { taskId: 1, repo: repo.dir, trigger: 't', instruction: 'tell the human', context: '', policy: POLICY },
      { db, home, model, sandbox: detectSandbox(), log: { debug() {}, info() {}, warn() {}, error() {} }, notify: (m) => void notified.push(m) },
    );
    assert.equal(r.state, 'done', r.reason);
    assert.equal(notified.length, 1);
    assert.ok(notified[0]!.length > 500, `redacted length ${notified[0]!.length}`);
    assert.ok(!notified[0]!.includes(secret));
    assert.match(notified[0]!, /^\[REDACTED:known-secret\] \[REDACTED/);
    // What the model was told about its notify: sent, not an internal error.
    const second = JSON.stringify(fake.messageRequests()[1]!.body);
    assert.match(second, /"content":"sent"/);
  } finally {
    db.close();
    repo.cleanup();
  }
});
