import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeHome, kairos, kairosJson, spawnDaemon, waitFor } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';

interface TaskJson { id: number; trigger: string; state: string }

test('quiet hours hold automatic work without dropping it; a poke runs now; pause holds, resume releases', async () => {
  const hhmm = (d: Date): string => `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  const quiet = { start: hhmm(new Date(Date.now() - 3_600_000)), end: hhmm(new Date(Date.now() + 3_600_000)) };
  const h = makeHome(`
triggers:
  - name: t
    on: { fs: ["**"], manual: true }
    settle_ms: 100
    run: 'true'
    notify: never
gate: { quiet_hours: { start: "${quiet.start}", end: "${quiet.end}" } }
`);
  const repo = makeRepo();
  try {
    const d = await spawnDaemon([repo.dir], h.env);
    try {
      repo.write('a.txt', 'x');
      const held = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env)[0], { what: 'task created' });
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.id === held.id)?.state, 'queued', 'quiet hours: the task waits');
      assert.equal(kairos(['poke', '--repo', repo.dir, '--trigger', 't'], h.env).code, 0);
      // The poke runs the trigger now; the held change rides along (its batch joins the poke's run, or runs with it).
      await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).every((t) => t.state === 'done'), { what: 'the poke ran despite quiet hours' });
      assert.equal(kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.id === held.id)?.state, 'done');
    } finally {
      d.kill('SIGTERM');
      await d.exited;
    }
  } finally {
    repo.cleanup();
    h.cleanup();
  }
});

test('kairos pause holds automatic tasks until kairos resume', async () => {
  const h = makeHome(`
triggers:
  - name: t
    on: { fs: ["**"] }
    settle_ms: 100
    run: 'true'
    notify: never
`);
  const repo = makeRepo();
  try {
    const d = await spawnDaemon([repo.dir], h.env);
    try {
      assert.equal(kairos(['pause'], h.env).code, 0);
      repo.write('a.txt', 'x');
      const task = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env)[0], { what: 'task created' });
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(kairosJson<TaskJson[]>(['tasks'], h.env)[0]!.state, 'queued');
      assert.equal(kairos(['resume'], h.env).code, 0);
      await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.id === task.id)?.state === 'done', { what: 'released by resume' });
    } finally {
      d.kill('SIGTERM');
      await d.exited;
    }
  } finally {
    repo.cleanup();
    h.cleanup();
  }
});
