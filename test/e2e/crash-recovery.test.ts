import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeHome, kairos, kairosJson, spawnDaemon, waitFor } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { isAlive } from '../support/process.js';

interface TaskJson { id: number; trigger: string; state: string; paths: string[]; reason: string | null }

function storeQuery<T>(home: string, sql: string): T[] {
  const db = new Database(path.join(home, 'kairos.db'), { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

describe('SIGKILL and restart', () => {
  test('killed during a storm: no stored event is lost, no task runs twice, the lock is recovered', async () => {
    const h = makeHome(`
triggers:
  - name: all
    on: { fs: ["**"] }
    settle_ms: 400
    run: 'echo "$KAIROS_TASK_ID" >> "$KAIROS_HOME/ran.txt"'
    notify: never
`);
    const repo = makeRepo();
    try {
      let d = await spawnDaemon([repo.dir], h.env);
      for (let i = 0; i < 3000; i++) repo.write(`storm/f${i}.txt`, String(i));
      await waitFor(() => storeQuery<{ n: number }>(h.home, 'SELECT count(*) AS n FROM events')[0]!.n > 200, { what: 'events being stored' });
      d.kill('SIGKILL');
      assert.equal(await d.exited, 'SIGKILL');
      assert.ok(fs.existsSync(path.join(h.home, 'kairos.pid')), 'the killed daemon left its lock behind');
      const storedBeforeRestart = storeQuery<{ id: number }>(h.home, 'SELECT id FROM events').map((r) => r.id);

      d = await spawnDaemon([repo.dir], h.env); // stale lock taken over
      try {
        await waitFor(() => {
          const open = storeQuery<{ n: number }>(h.home, "SELECT count(*) AS n FROM events WHERE settled_at IS NULL")[0]!.n;
          const busy = kairosJson<TaskJson[]>(['tasks', '--limit', '1000'], h.env).some((t) => t.state === 'queued' || t.state === 'running');
          return open === 0 && !busy;
        }, { what: 'all events settled and tasks finished', timeoutMs: 60_000 });
        // Every event stored before the kill is in a batch of the trigger.
        const batched = new Set(storeQuery<{ event_id: number }>(h.home, "SELECT event_id FROM batch_events WHERE trigger = 'all'").map((r) => r.event_id));
        const missing = storedBeforeRestart.filter((id) => !batched.has(id));
        assert.deepEqual(missing, [], 'stored events never batched');
        // No task ran twice.
        const ran = fs.readFileSync(path.join(h.home, 'ran.txt'), 'utf8').trim().split('\n');
        assert.equal(new Set(ran).size, ran.length, `a task ran twice: ${ran.join(',')}`);
        const tasks = kairosJson<TaskJson[]>(['tasks', '--limit', '1000'], h.env);
        for (const t of tasks.filter((t) => t.state === 'done')) assert.ok(ran.includes(String(t.id)), `done task ${t.id} left no trace`);
      } finally {
        d.kill('SIGTERM');
        await d.exited;
      }
    } finally {
      repo.cleanup();
      h.cleanup();
    }
  });

  test('killed during a running task: it is marked interrupted, its command is stopped, and it is not re-run', async () => {
    const h = makeHome(`
triggers:
  - name: slow
    on: { manual: true }
    settle_ms: 0
    run: 'echo $$ >> "$KAIROS_HOME/starts"; sleep 60'
    notify: never
  - name: fence
    on: { manual: true }
    settle_ms: 0
    run: 'true'
    notify: never
`);
    const repo = makeRepo();
    try {
      let d = await spawnDaemon([repo.dir], h.env);
      assert.equal(kairos(['poke', '--repo', repo.dir, '--trigger', 'slow'], h.env).code, 0);
      const task = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.state === 'running'), { what: 'task running' });
      const startsFile = path.join(h.home, 'starts');
      await waitFor(() => fs.existsSync(startsFile), { what: 'command started' });
      const shellPid = Number(fs.readFileSync(startsFile, 'utf8').trim());
      d.kill('SIGKILL');
      await d.exited;
      assert.ok(isAlive(shellPid), 'the command outlives a SIGKILLed daemon (its own process group)');

      d = await spawnDaemon([repo.dir], h.env);
      try {
        const after = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.id === task.id && t.state === 'interrupted'), { what: 'interrupted' });
        assert.match(after.reason ?? '', /daemon stopped while this task was running/);
        await waitFor(() => !isAlive(shellPid), { what: 'orphaned command stopped' });
        // Recovery runs at start, before anything new: a re-run would be a task row queued before this
        // fence task (interrupted is a final state). Once the fence has run, the list is complete.
        assert.equal(kairos(['poke', '--repo', repo.dir, '--trigger', 'fence'], h.env).code, 0);
        await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.trigger === 'fence' && t.state === 'done'), { what: 'the fence task ran' });
        assert.deepEqual(kairosJson<TaskJson[]>(['tasks'], h.env).map((t) => t.trigger).sort(), ['fence', 'slow'], 'the interrupted task was re-run');
        assert.equal(fs.readFileSync(startsFile, 'utf8').trim().split('\n').length, 1, 'the task was re-run');
      } finally {
        d.kill('SIGTERM');
        await d.exited;
      }
    } finally {
      repo.cleanup();
      h.cleanup();
    }
  });
});
