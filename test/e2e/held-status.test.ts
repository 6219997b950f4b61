import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kairos, kairosJson, scenario, waitFor, withDaemon } from '../support/kairos.js';
import { startFakeAnthropic } from '../support/fake-anthropic.js';

interface TaskJson {
  id: number;
  trigger: string;
  state: string;
  reason: string | null;
  held_reason: string | null;
  held_until: string | null;
  held_since: string | null;
}
interface HeldJson {
  id: number;
  trigger: string;
  reason: string;
  until: string | null;
  since: string;
}
interface StatusJson {
  paused: boolean;
  pause: { paused: boolean; since: string | null; by: string | null };
  held: number[];
  held_tasks: HeldJson[];
  model_steps: { state: string };
  policy: { loaded_at: string; last_reload: unknown };
}

const tasks = (env: NodeJS.ProcessEnv): TaskJson[] => kairosJson<TaskJson[]>(['tasks'], env);
const status = (env: NodeJS.ProcessEnv): StatusJson => kairosJson<StatusJson>(['status'], env);
const hhmm = (d: Date): string => `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;

test('quiet hours: status --json and tasks --json say why a task is held and until when, and the text says it too', async () => {
  // A window around now (the README's 22:00–07:00 shape, moved so the test does not depend on the hour).
  const start = new Date(Date.now() - 3_600_000);
  const end = new Date(Date.now() + 2 * 3_600_000);
  const policy = `
triggers:
  - name: deps
    on: { fs: ["**"] }
    settle_ms: 100
    run: 'true'
    notify: never
gate: { quiet_hours: { start: "${hhmm(start)}", end: "${hhmm(end)}" } }
`;
  await scenario(policy, ({ h, repo }) =>
    withDaemon([repo.dir], h.env, async () => {
      repo.write('package.json', '{}');
      // The row is written when the gate holds the task: waiting for it is waiting for the proof.
      const held = await waitFor(() => tasks(h.env).find((t) => t.held_reason !== null), { what: 'the task held in the store' });
      assert.equal(held.state, 'queued');
      assert.equal(held.held_reason, `quiet hours (${hhmm(start)}–${hhmm(end)})`);
      assert.equal(held.reason, held.held_reason, 'a held task does not say reason: null');
      const until = new Date(held.held_until!);
      assert.equal(hhmm(until), hhmm(end), 'held until the window ends');
      assert.ok(until.getTime() > Date.now() && until.getTime() - Date.now() <= 2 * 3_600_000 + 60_000);
      assert.ok(held.held_since);

      const s = status(h.env);
      assert.deepEqual(s.held, [held.id]);
      assert.deepEqual(s.held_tasks.map((t) => ({ id: t.id, trigger: t.trigger, reason: t.reason, until: t.until })), [
        { id: held.id, trigger: 'deps', reason: held.held_reason, until: held.held_until },
      ]);
      assert.equal(s.pause.paused, false);
      assert.equal(s.model_steps.state, 'off', 'no API key in tests');
      assert.ok(Date.parse(s.policy.loaded_at) > 0);

      const text = kairos(['status'], h.env);
      assert.equal(text.code, 0);
      // The window may end after midnight: the time then comes with its date.
      const endText = `(?:\\d{4}-\\d{2}-\\d{2} )?${hhmm(end)}`;
      assert.match(text.stdout, new RegExp(`task ${held.id} \\(deps\\) held: quiet hours \\(${hhmm(start)}–${hhmm(end)}\\) until ${endText}`));
      assert.match(text.stdout, /policy: loaded .*; not reloaded since start/);
      const list = kairos(['tasks'], h.env);
      assert.match(list.stdout, new RegExp(`held: quiet hours \\(${hhmm(start)}–${hhmm(end)}\\) until ${endText}`));
    }),
  );
});

test('pause: status says paused, since when and by whom, the model line says paused, held tasks say why; resume clears the hold', async () => {
  const policy = `
triggers:
  - name: t
    on: { fs: ["**"] }
    settle_ms: 100
    run: 'true'
    notify: never
`;
  // Model steps on (a key and the fake Messages API), so "paused" is the pause's doing, not a missing key.
  const fake = await startFakeAnthropic();
  try {
    await scenario(policy, ({ h, repo }) => {
      h.env.ANTHROPIC_API_KEY = 'sk-ant-test-not-a-real-key';
      h.env.ANTHROPIC_BASE_URL = fake.url;
      return withDaemon([repo.dir], h.env, async () => {
        assert.equal(status(h.env).model_steps.state, 'on');
        assert.equal(kairos(['pause'], h.env).code, 0);
        repo.write('a.txt', 'x');
        const held = await waitFor(() => tasks(h.env).find((t) => t.held_reason !== null), { what: 'the task held by the pause' });
        assert.match(held.held_reason!, /paused/);
        assert.equal(held.held_until, null, 'a pause holds until resume, not until a time');

        const s = status(h.env);
        assert.equal(s.paused, true);
        assert.equal(s.model_steps.state, 'paused');
        assert.equal(s.pause.by, 'cli');
        assert.ok(s.pause.since && Date.parse(s.pause.since) <= Date.now());
        assert.deepEqual(s.held_tasks.map((t) => t.id), [held.id]);
        assert.equal(s.held_tasks[0]!.until, null);

        const text = kairos(['status'], h.env).stdout;
        assert.match(text, /model steps: paused/);
        assert.doesNotMatch(text, /model steps: on/);
        assert.match(text, /PAUSED since .* \(by cli\)/);
        assert.match(text, new RegExp(`task ${held.id} \\(t\\) held: Kairos is paused`));

        assert.equal(kairos(['resume'], h.env).code, 0);
        const done = await waitFor(() => tasks(h.env).find((t) => t.id === held.id && t.state === 'done'), { what: 'released by resume' });
        assert.equal(done.held_reason, null);
        assert.equal(done.reason, null, 'a task that ran keeps no stale hold reason');
        const after = status(h.env);
        assert.equal(after.pause.paused, false);
        assert.deepEqual(after.held_tasks, []);
        assert.doesNotMatch(kairos(['status'], h.env).stdout, /PAUSED|held tasks/);
        assert.match(kairos(['status'], h.env).stdout, /model steps: on/);
      });
    });
  } finally {
    await fake.close();
  }
});
