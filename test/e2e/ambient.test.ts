import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeHome, kairos, kairosJson, spawnDaemon, waitFor } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { startFakeAnthropic } from '../support/fake-anthropic.js';

interface TaskJson { id: number; kind: string; trigger: string; state: string; reason: string | null }
const POLICY = 'models: { act: claude-sonnet-4-6, triage: claude-haiku-4-5 }\nbudget: { day_usd: 5 }\n';

function decisions(home: string): Array<{ stage: string; outcome: string; why: string }> {
  const db = new Database(path.join(home, 'kairos.db'), { readonly: true });
  try {
    return db.prepare('SELECT stage, outcome, why FROM decisions ORDER BY id').all() as Array<{ stage: string; outcome: string; why: string }>;
  } finally {
    db.close();
  }
}

test('a poke no trigger takes goes to triage; "act" starts an agent task that can only propose or sleep', async () => {
  const fake = await startFakeAnthropic();
  const h = makeHome(POLICY);
  h.env.ANTHROPIC_API_KEY = 'sk-ant-test-key';
  h.env.ANTHROPIC_BASE_URL = fake.url;
  const repo = makeRepo();
  try {
    repo.write('src/a.js', 'export const a = 1;\n');
    repo.commit('a');
    fake.script(
      { text: '{"act": true, "why": "a new module has no test", "task": "look at src/a.js and decide whether it needs a test", "urgency": "next"}' },
      { content: [{ type: 'tool_use', name: 'sleep', input: { reason: 'it is trivial' } }], stop_reason: 'tool_use' },
    );
    const d = await spawnDaemon([repo.dir], h.env);
    try {
      assert.equal(kairos(['poke', '--repo', repo.dir, '--note', 'have a look'], h.env).code, 0);
      const task = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.trigger === 'ambient' && t.state === 'done'), { what: 'ambient agent task done', timeoutMs: 60_000 });
      assert.equal(task.kind, 'agent');
      assert.match(task.reason ?? '', /slept: it is trivial/);
      const ds = decisions(h.home);
      assert.deepEqual(ds.map((x) => x.outcome), ['act'], 'one poke, one decision');
      assert.match(ds[0]!.why, /no test/);
      const log = kairos(['logs'], h.env).stdout;
      assert.match(log, /acted: a new module has no test/);
      const triage = fake.messageRequests()[0]!.body as { model: string };
      assert.equal(triage.model, 'claude-haiku-4-5', 'triage uses the cheap model');
    } finally {
      d.kill('SIGTERM');
      await d.exited;
    }
  } finally {
    await fake.close();
    repo.cleanup();
    h.cleanup();
  }
});

test('without an API key a poke is decided without any model call, and says why', async () => {
  const h = makeHome(POLICY);
  const repo = makeRepo();
  try {
    const d = await spawnDaemon([repo.dir], h.env);
    try {
      assert.equal(kairos(['poke', '--repo', repo.dir], h.env).code, 0);
      const ds = await waitFor(() => decisions(h.home).find((x) => x.outcome === 'sleep'), { what: 'a sleep decision' });
      assert.match(ds.why, /model steps are off/);
      assert.equal(kairosJson<TaskJson[]>(['tasks'], h.env).length, 0);
    } finally {
      d.kill('SIGTERM');
      await d.exited;
    }
  } finally {
    repo.cleanup();
    h.cleanup();
  }
});
