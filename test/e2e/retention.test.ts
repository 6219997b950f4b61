/**
 * Retention under the real daemon: a prune of 100,000 old events and 10,000 old tasks runs while files
 * keep changing; the events of those changes are stored while it runs (their ids fall between the newest
 * id at the prune's start and at its end), protected rows stay, the freed pages go back to the disk.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeHome, kairosJson, spawnDaemon, waitFor } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { callDaemon } from '../../src/cli/control-client.js';

const POLICY = `
retention: { events_days: 30, tasks_days: 30 }
triggers:
  - name: save
    on: { fs: ["live/**"] }
    settle_ms: 100
    run: 'true'
    notify: never
`;
const OLD_EVENTS = 100_000;

interface PruneRun { events: number; tasks: number; batches: number; vacuumed_pages: number; chunks: number; longest_chunk_ms: number; ms: number; max_event_id_before: number; max_event_id_after: number }

/** What a long-lived store holds: old settled events in batches of 10, one finished task per batch; plus rows that must stay. */
function fillOld(file: string, repo: string): { unsettledIds: number[]; awaitedTask: number } {
  const db = new Database(file);
  const old = (i: number): string => new Date(Date.now() - 90 * 86_400_000 + i).toISOString();
  const ev = db.prepare("INSERT INTO events (type, repo, at, path, origin, data, settled_at) VALUES ('file.changed', ?, ?, ?, 'user', '{}', ?)");
  const batch = db.prepare("INSERT INTO batches (repo, trigger, created_at, event_count, paths) VALUES (?, 'save', ?, 10, '[]')");
  const link = db.prepare("INSERT INTO batch_events (batch_id, event_id, trigger) VALUES (?, ?, 'save')");
  const task = db.prepare("INSERT INTO tasks (repo, trigger, kind, batch_id, state, created_at, started_at, finished_at, command) VALUES (?, 'save', 'command', ?, 'done', ?, ?, ?, 'true')");
  let awaitedTask = 0;
  const unsettledIds: number[] = [];
  db.transaction(() => {
    let b = 0;
    for (let i = 0; i < OLD_EVENTS; i++) {
      const id = Number(ev.run(repo, old(i), `old/f${i}`, old(i)).lastInsertRowid);
      if (i % 10 === 0) {
        b = Number(batch.run(repo, old(i)).lastInsertRowid);
        const t = Number(task.run(repo, b, old(i), old(i), old(i)).lastInsertRowid);
        if (i === 50_000) awaitedTask = t;
      }
      link.run(b, id);
    }
    // Never settled (a repository no longer watched, so nothing replays them): kept whatever their age.
    for (let i = 0; i < 3; i++) unsettledIds.push(Number(db.prepare("INSERT INTO events (type, repo, at, path, origin, data) VALUES ('file.changed', '/gone', ?, 'x', 'user', '{}')").run(old(i)).lastInsertRowid));
    db.prepare("INSERT INTO approvals (id, kind, summary, command, repo, task_id, created_at, expires_at) VALUES ('apr1', 'command', 'run it?', 'true', ?, ?, ?, ?)")
      .run(repo, String(awaitedTask), old(0), new Date(Date.now() + 86_400_000).toISOString());
  })();
  db.close();
  return { unsettledIds, awaitedTask };
}

describe('retention prunes a big store beside the running daemon', () => {
  const h = makeHome(POLICY);
  const repo = makeRepo();
  after(() => {
    repo.cleanup();
    h.cleanup();
  });

  test('old rows go, protected rows stay, the file shrinks, and events keep being stored during the prune', async (t) => {
    const t0 = Date.now();
    const first = await spawnDaemon([repo.dir], h.env); // creates this build's schema
    first.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    const file = path.join(h.home, 'kairos.db');
    const kept = fillOld(file, repo.dir);
    const sizeBefore = fs.statSync(file).size;
    t.diagnostic(`store filled in ${Date.now() - t0} ms`);

    const d = await spawnDaemon([repo.dir], h.env);
    try {
      let writes = 0;
      const writer = setInterval(() => repo.write(`live/f${writes++}.txt`, String(writes)), 40);
      let run: PruneRun;
      try {
        run = (await callDaemon(h.home, 'prune', {}, 300_000)) as PruneRun;
      } finally {
        clearInterval(writer);
      }
      t.diagnostic(`prune: ${JSON.stringify(run)}; ${writes} files written meanwhile`);
      assert.equal(run.events, OLD_EVENTS - 10, 'every old event but the ten in the awaited task’s batch');
      assert.equal(run.tasks, OLD_EVENTS / 10 - 1);
      assert.ok(run.chunks > 50, `small transactions: ${run.chunks}`);
      assert.ok(run.vacuumed_pages > 1000, `incremental vacuum gave back ${run.vacuumed_pages} pages`);

      const db = new Database(file, { readonly: true });
      const ids = (db.prepare("SELECT id FROM events WHERE path LIKE 'live/%'").pluck().all() as number[]);
      const during = ids.filter((id) => id > run.max_event_id_before && id <= run.max_event_id_after);
      assert.ok(during.length > 0, `events stored while the prune ran (${during.length} of ${ids.length}; the prune took ${run.ms} ms, its longest transaction ${run.longest_chunk_ms} ms)`);
      for (const id of kept.unsettledIds) assert.ok(db.prepare('SELECT 1 FROM events WHERE id = ?').get(id), 'unsettled events are kept');
      assert.ok(db.prepare('SELECT 1 FROM tasks WHERE id = ?').get(kept.awaitedTask), 'a task with an open approval is kept');
      assert.equal(db.prepare('SELECT count(*) FROM batch_events be JOIN tasks t ON t.batch_id = be.batch_id WHERE t.id = ?').pluck().get(kept.awaitedTask), 10, 'and the events of its batch');
      assert.equal(db.pragma('freelist_count', { simple: true }), 0);
      const total = db.prepare('SELECT count(*) FROM events').pluck().get() as number;
      db.close();
      // status keeps its count without counting the table: it must still be right after the prune.
      await waitFor(() => kairosJson<{ events: number }>(['status'], h.env).events >= total, { what: 'status count' });
      const s = kairosJson<{ events: number }>(['status'], h.env);
      const db2 = new Database(file, { readonly: true });
      assert.equal(s.events, db2.prepare('SELECT count(*) FROM events').pluck().get());
      db2.close();
      await waitFor(() => kairosJson<Array<{ trigger: string; state: string }>>(['tasks', '--limit', '5'], h.env).some((t) => t.trigger === 'save' && t.state === 'done'), { what: 'the trigger kept running' });
    } finally {
      d.kill('SIGTERM');
      assert.equal(await d.exited, 0);
    }
    // The checkpointed file is far smaller than before.
    const sizeAfter = fs.statSync(path.join(h.home, 'kairos.db')).size;
    assert.ok(sizeAfter < sizeBefore / 2, `the file shrank: ${sizeBefore} → ${sizeAfter} bytes`);
  });
});
