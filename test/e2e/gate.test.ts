import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kairos, kairosJson, scenario, waitFor, withDaemon } from '../support/kairos.js';

interface TaskJson { id: number; trigger: string; state: string }

const tasks = (env: NodeJS.ProcessEnv): TaskJson[] => kairosJson<TaskJson[]>(['tasks'], env);
/** The runner has asked the gate and been told to wait: the task is in the daemon's held list, not merely not-yet-started. */
const heldByGate = (env: NodeJS.ProcessEnv, id: number): boolean => kairosJson<{ held: number[] }>(['status'], env).held.includes(id);

test('quiet hours hold automatic work without dropping it; a poke runs now', async () => {
  const hhmm = (d: Date): string => `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  const quiet = { start: hhmm(new Date(Date.now() - 3_600_000)), end: hhmm(new Date(Date.now() + 3_600_000)) };
  const policy = `
triggers:
  - name: t
    on: { fs: ["**"], manual: true }
    settle_ms: 100
    run: 'true'
    notify: never
gate: { quiet_hours: { start: "${quiet.start}", end: "${quiet.end}" } }
`;
  await scenario(policy, ({ h, repo }) =>
    withDaemon([repo.dir], h.env, async () => {
      repo.write('a.txt', 'x');
      const held = await waitFor(() => tasks(h.env)[0], { what: 'task created' });
      await waitFor(() => heldByGate(h.env, held.id), { what: 'the gate held the task' });
      assert.equal(tasks(h.env).find((t) => t.id === held.id)?.state, 'queued', 'quiet hours: the task waits');
      assert.equal(kairos(['poke', '--repo', repo.dir, '--trigger', 't'], h.env).code, 0);
      // The poke runs the trigger now; the held change rides along (its batch joins the poke's run, or runs with it).
      await waitFor(() => tasks(h.env).every((t) => t.state === 'done'), { what: 'the poke ran despite quiet hours' });
      assert.equal(tasks(h.env).find((t) => t.id === held.id)?.state, 'done');
    }),
  );
});

test('kairos pause holds automatic tasks until kairos resume', async () => {
  const policy = `
triggers:
  - name: t
    on: { fs: ["**"] }
    settle_ms: 100
    run: 'true'
    notify: never
`;
  await scenario(policy, ({ h, repo }) =>
    withDaemon([repo.dir], h.env, async () => {
      assert.equal(kairos(['pause'], h.env).code, 0);
      repo.write('a.txt', 'x');
      const task = await waitFor(() => tasks(h.env)[0], { what: 'task created' });
      await waitFor(() => heldByGate(h.env, task.id), { what: 'the gate held the task' });
      assert.equal(tasks(h.env)[0]!.state, 'queued');
      assert.equal(kairos(['resume'], h.env).code, 0);
      await waitFor(() => tasks(h.env).find((t) => t.id === task.id)?.state === 'done', { what: 'released by resume' });
    }),
  );
});
