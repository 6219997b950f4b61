import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kairos, kairosJson, makeHome, waitFor } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { startFakeAnthropic } from '../support/fake-anthropic.js';

interface TaskJson {
  id: number;
  kind: string;
  trigger: string;
  state: string;
  reason: string | null;
}

const tool = (name: string, input: Record<string, unknown>) => ({ content: [{ type: 'tool_use' as const, name, input }], stop_reason: 'tool_use' as const });

test('untrusted repository: `kairos start` says agent work is read-only until `kairos trust`; an ask task whose edits were denied ends saying so, with the command', async () => {
  const fake = await startFakeAnthropic();
  const h = makeHome(`
triggers:
  - name: fixer
    on: { manual: true }
    ask: "fix the typo in README.md"
    notify: on_failure
budget: { task_usd: 1, day_usd: 5 }
models: { act: claude-sonnet-4-6, triage: claude-haiku-4-5 }
`);
  h.env.ANTHROPIC_API_KEY = 'sk-ant-test-not-a-real-key';
  h.env.ANTHROPIC_BASE_URL = fake.url;
  const repo = makeRepo();
  try {
    repo.write('README.md', 'Teh project\n');
    repo.commit('init');

    // The real CLI, starting the real daemon in the background.
    const start = kairos(['start', '--repo', repo.dir], h.env);
    assert.equal(start.code, 0, start.stderr);
    assert.ok(start.stdout.includes(`${repo.dir} is not trusted: agent work there is read-only`), start.stdout);
    assert.ok(start.stdout.includes(`until you run 'kairos trust ${repo.dir}'`), start.stdout);

    fake.script(
      tool('read_file', { path: 'README.md' }),
      tool('edit_file', { path: 'README.md', old: 'Teh', new: 'The' }),
      tool('propose', { summary: 'fix the typo' }),
    );
    assert.equal(kairos(['poke', '--repo', repo.dir, '--trigger', 'fixer'], h.env).code, 0);
    const task = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.kind === 'agent' && ['proposed', 'failed', 'done'].includes(t.state)), {
      what: 'the agent task to end',
      timeoutMs: 90_000,
    });
    // The edit reached the trust layer and was denied there (what the model was told).
    assert.match(fake.rawBodies.join('\n'), /untrusted repository: the agent may only read here/);
    assert.equal(task.state, 'done');
    assert.ok(task.reason?.startsWith(`nothing to propose: ${repo.dir} is not trusted, so the agent could only read (1 edit or command denied); run 'kairos trust ${repo.dir}'`), task.reason ?? 'null');
    // The person at the desk is told too, not only the task list.
    const file = path.join(h.home, 'notifications.jsonl');
    const n = await waitFor(
      () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { title: string; body: string }).find((x) => x.body.includes('kairos trust')) : undefined),
      { what: 'the untrusted notification' },
    );
    assert.equal(n.title, 'Kairos: fixer');
    assert.match(n.body, /is not trusted, so the agent could only read/);

    // Once trusted, starting again (the daemon already runs: the repository is added) gives no hint.
    assert.equal(kairos(['trust', repo.dir], h.env).code, 0);
    const again = kairos(['start', '--repo', repo.dir], h.env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /daemon already running/);
    assert.ok(!again.stdout.includes('not trusted'), again.stdout);
  } finally {
    kairos(['stop'], h.env);
    await fake.close();
    repo.cleanup();
    h.cleanup();
  }
});
