import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { kairos, kairosJson, scenario, waitFor, withDaemon } from '../support/kairos.js';
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
  try {
    await scenario(POLICY, async ({ h, repo }) => {
      h.env.ANTHROPIC_API_KEY = 'sk-ant-test-key';
      h.env.ANTHROPIC_BASE_URL = fake.url;
      repo.write('src/a.js', 'export const a = 1;\n');
      repo.commit('a');
      fake.script(
        { text: '{"act": true, "why": "a new module has no test", "task": "look at src/a.js and decide whether it needs a test", "urgency": "next"}' },
        { content: [{ type: 'tool_use', name: 'sleep', input: { reason: 'it is trivial' } }], stop_reason: 'tool_use' },
      );
      await withDaemon([repo.dir], h.env, async () => {
        assert.equal(kairos(['poke', '--repo', repo.dir, '--note', 'have a look'], h.env).code, 0);
        const task = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.trigger === 'ambient' && t.state === 'done'), { what: 'ambient agent task done', timeoutMs: 60_000 });
        assert.equal(task.kind, 'agent');
        assert.match(task.reason ?? '', /slept: it is trivial/);
        const ds = decisions(h.home);
        assert.deepEqual(ds.map((x) => x.outcome), ['act'], 'one poke, one decision');
        assert.match(ds[0]!.why, /no test/);
        assert.match(kairos(['logs'], h.env).stdout, /acted: a new module has no test/);
        const triage = fake.messageRequests()[0]!.body as { model: string };
        assert.equal(triage.model, 'claude-haiku-4-5', 'triage uses the cheap model');
      });
    });
  } finally {
    await fake.close();
  }
});

test('without an API key a poke is decided without any model call, and says why', async () => {
  await scenario(POLICY, ({ h, repo }) =>
    withDaemon([repo.dir], h.env, async () => {
      assert.equal(kairos(['poke', '--repo', repo.dir], h.env).code, 0);
      const d = await waitFor(() => decisions(h.home).find((x) => x.outcome === 'sleep'), { what: 'a sleep decision' });
      assert.match(d.why, /model steps are off/);
      assert.equal(kairosJson<TaskJson[]>(['tasks'], h.env).length, 0);
    }),
  );
});
