import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeHome, kairos, kairosJson, spawnDaemon, waitFor } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { startFakeAnthropic } from '../support/fake-anthropic.js';

interface TaskJson {
  id: number;
  kind: string;
  state: string;
}

/**
 * A hook that fails never stops an agent session, so the daemon's log is the only place it shows:
 * once, it left no trace at all. The real daemon runs an agent task (against the fake Messages API)
 * with a user hook that exits 1 at SessionStart.
 */
test('a hook that fails in an agent session is logged with its event and what it printed; the session goes on', { timeout: 150_000 }, async () => {
  const fake = await startFakeAnthropic();
  const h = makeHome(`
triggers:
  - name: check
    on: { manual: true }
    run: "false"
    ask: "the check failed: look"
    ask_on: failure
    notify: never
budget: { task_usd: 1, day_usd: 5 }
models: { act: claude-sonnet-4-6, triage: claude-haiku-4-5 }
`);
  h.env.ANTHROPIC_API_KEY = 'sk-ant-test-not-a-real-key';
  h.env.ANTHROPIC_BASE_URL = fake.url;
  fs.writeFileSync(
    path.join(h.home, 'hooks.json'),
    JSON.stringify({ hooks: { SessionStart: [{ hooks: [{ type: 'command', command: 'echo "lint cache is broken" >&2; exit 1' }] }] } }),
  );
  const repo = makeRepo();
  try {
    fake.script({ content: [{ type: 'text', text: 'Nothing to change.' }], stop_reason: 'end_turn' });
    const d = await spawnDaemon([repo.dir], h.env);
    try {
      assert.equal(kairos(['poke', '--repo', repo.dir, '--trigger', 'check'], h.env).code, 0);
      const log = path.join(h.home, 'logs', 'kairos.log');
      await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.kind === 'agent' && !['queued', 'running'].includes(t.state)), {
        what: 'the agent task finished',
        timeoutMs: 90_000,
      });
      // The session went past its start: the model was asked.
      assert.ok(fake.rawBodies.length >= 1, 'the model was called after the failed hook');
      const lines = fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('hook warning'));
      assert.equal(lines.length, 1, `one warning for the one failed hook; log:\n${fs.readFileSync(log, 'utf8').slice(-3000)}`);
      assert.match(lines[0]!, /SessionStart/);
      assert.match(lines[0]!, /lint cache is broken/);
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
