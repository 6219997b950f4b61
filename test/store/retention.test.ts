import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { EventStore } from '../../src/store/event-store.js';
import { TaskStore } from '../../src/store/task-store.js';
import { ApprovalStore } from '../../src/store/approval-store.js';
import { ensureIncrementalVacuum, pruneStore, RETENTION_DEFAULTS } from '../../src/store/retention.js';
import { mergeRepoPolicy } from '../../src/policy/merge.js';
import { loadPolicyFile, parsePolicyText, shippedPolicyPath } from '../../src/policy/load.js';
import type { EventDraft } from '../../src/events/event.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-retention-');
after(() => tmp.cleanup());

const NOW = new Date('2026-06-01T12:00:00.000Z');
const daysAgo = (d: number): string => new Date(NOW.getTime() - d * 86_400_000).toISOString();
const REPO = '/r/app';
const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));

function draft(at: string, p: string, type: EventDraft['type'] = 'file.changed'): EventDraft {
  return { type, repo: REPO, at, origin: 'user', path: p, data: {} } as EventDraft;
}

/** A task with its batch, moved through `states` (the last one is where it stays). */
function task(tasks: TaskStore, eventIds: number[], at: string, states: Array<'running' | 'done' | 'proposed'>): { taskId: number; batchId: number } {
  const r = tasks.createBatchTask({ repo: REPO, trigger: `t${eventIds[0]}`, kind: 'command', command: 'true', eventIds, paths: ['x'], at });
  let from: 'queued' | 'running' | 'done' | 'proposed' = 'queued';
  for (const s of states) {
    tasks.move(r.taskId, from, s, at);
    from = s;
  }
  return { taskId: r.taskId, batchId: r.batchId };
}

const count = (db: Db, sql: string, ...args: unknown[]): number => (db.prepare(sql).get(...args) as { n: number }).n;

describe('pruneStore', () => {
  test('removes old settled events and finished tasks; keeps unsettled, live, awaited and audit rows', async () => {
    const db = openDb(path.join(tmp.dir, 'prune.db'));
    const events = new EventStore(db);
    const tasks = new TaskStore(db);
    const old = events.appendMany(Array.from({ length: 30 }, (_, i) => draft(daysAgo(100), `old/${i}`)));
    const fresh = events.appendMany(Array.from({ length: 5 }, (_, i) => draft(daysAgo(1), `new/${i}`)));
    const id = (i: number): number => old[i]!.id;
    // 0-9: an old finished task's batch; 10-11: a live (running) task's; 12-13: a task awaiting an approval;
    // 14: never settled; 15-29: settled, in no batch.
    const finished = task(tasks, old.slice(0, 10).map((e) => e.id), daysAgo(100), ['running', 'done']);
    const live = task(tasks, [id(10), id(11)], daysAgo(100), ['running']);
    // Finished, but an approval of it is still open (someone may still answer it): kept with its events.
    const awaited = task(tasks, [id(12), id(13)], daysAgo(100), ['running', 'done']);
    new ApprovalStore(db).insert({ kind: 'command', proposalId: null, hash: null, summary: 's', command: 'x', files: [], trigger: 't', repo: REPO, taskId: String(awaited.taskId), costMicros: 0, createdAt: daysAgo(100), expiresAt: daysAgo(-1) });
    const recent = task(tasks, [fresh[0]!.id], daysAgo(1), ['running', 'done']);
    events.markSettled([...old.filter((_, i) => i !== 14), ...fresh].map((e) => e.id), daysAgo(99));
    db.prepare("INSERT INTO audit (at, repo, task_id, origin, what, layer, verdict, eval_id) VALUES (?, ?, ?, 'trigger', 'x', 'gate', 'allow', 'e1')").run(daysAgo(100), REPO, finished.taskId);

    let pauses = 0;
    const r = await pruneStore(db, { events_days: 30, tasks_days: 90 }, { now: NOW, chunk: 4, pause: () => (pauses++, immediate()) });

    assert.equal(r.tasks, 1, 'only the old finished task goes');
    assert.equal(r.batches, 1);
    assert.equal(tasks.get(finished.taskId), undefined);
    assert.equal(count(db, 'SELECT count(*) AS n FROM task_transitions WHERE task_id = ?', finished.taskId), 0, 'its transitions go with it');
    assert.equal(count(db, 'SELECT count(*) AS n FROM batches WHERE id = ?', finished.batchId), 0, 'its batch goes with it');
    for (const t of [live, awaited, recent]) assert.ok(tasks.get(t.taskId), `task ${t.taskId} kept`);
    assert.equal(count(db, 'SELECT count(*) AS n FROM audit'), 1, 'audit rows are never pruned');

    const left = new Set((db.prepare('SELECT id FROM events').all() as { id: number }[]).map((e) => e.id));
    for (const i of [10, 11, 12, 13, 14]) assert.ok(left.has(id(i)), `old event ${i} is protected and kept`);
    for (const i of [0, 5, 9, 15, 29]) assert.ok(!left.has(id(i)), `old event ${i} is pruned`);
    for (const e of fresh) assert.ok(left.has(e.id), 'recent events are kept');
    assert.equal(r.events, 25);
    assert.equal(count(db, 'SELECT count(*) AS n FROM batch_events WHERE batch_id = ?', live.batchId), 2, "a live task's batch keeps its events");
    assert.ok(r.chunks > 5 && pauses >= r.chunks - 2, `worked in small chunks with the loop handed back between them (${r.chunks} chunks, ${pauses} pauses)`);
    assert.deepEqual(db.pragma('foreign_key_check'), []);
    db.close();
  });

  test('0 keeps forever; a second prune finds nothing; the walk stops at the first recent chunk', async () => {
    const db = openDb(path.join(tmp.dir, 'forever.db'));
    const events = new EventStore(db);
    const all = events.appendMany([...Array.from({ length: 20 }, (_, i) => draft(daysAgo(400), `o${i}`)), ...Array.from({ length: 200 }, (_, i) => draft(daysAgo(0), `n${i}`))]);
    events.markSettled(all.map((e) => e.id), daysAgo(0));
    const keep = await pruneStore(db, { events_days: 0, tasks_days: 0 }, { now: NOW, pause: immediate });
    assert.equal(keep.events, 0);
    assert.equal(keep.chunks, 0, '0 means the table is not even read');
    const first = await pruneStore(db, { events_days: 30, tasks_days: 0 }, { now: NOW, chunk: 10, pause: immediate });
    assert.equal(first.events, 20);
    assert.ok(first.chunks <= 4, `stopped at the first chunk with nothing old (read ${first.chunks} chunks of 22)`);
    const again = await pruneStore(db, { events_days: 30, tasks_days: 0 }, { now: NOW, chunk: 10, pause: immediate });
    assert.equal(again.events, 0);
    assert.equal(again.chunks, 1);
    db.close();
  });

  test('the freed pages go back to the file system (incremental vacuum), and an old store is converted once', async () => {
    const file = path.join(tmp.dir, 'vacuum.db');
    // A store created the old way (auto_vacuum NONE), as every store made before this change.
    const legacy = new (await import('better-sqlite3')).default(file);
    legacy.pragma('auto_vacuum = NONE');
    legacy.exec('CREATE TABLE placeholder (x)');
    legacy.close();
    const db = openDb(file);
    assert.equal(db.pragma('auto_vacuum', { simple: true }), 0);
    assert.equal(ensureIncrementalVacuum(db), 'converted');
    assert.equal(db.pragma('auto_vacuum', { simple: true }), 2);
    assert.equal(ensureIncrementalVacuum(db), 'already');
    const events = new EventStore(db);
    const big = 'x'.repeat(2000);
    const stored = events.appendMany(Array.from({ length: 3000 }, (_, i) => ({ ...draft(daysAgo(60), `f${i}`), data: { big } }) as EventDraft));
    events.markSettled(stored.map((e) => e.id), daysAgo(60));
    db.pragma('wal_checkpoint(TRUNCATE)');
    const pagesBefore = db.pragma('page_count', { simple: true }) as number;
    const r = await pruneStore(db, { events_days: 30, tasks_days: 90 }, { now: NOW, pause: immediate });
    assert.equal(r.events, 3000);
    assert.ok(r.vacuumed_pages > 1000, `vacuumed ${r.vacuumed_pages} pages`);
    assert.equal(db.pragma('freelist_count', { simple: true }), 0);
    const pagesAfter = db.pragma('page_count', { simple: true }) as number;
    assert.ok(pagesAfter < pagesBefore / 4, `the file shrank: ${pagesBefore} → ${pagesAfter} pages`);
    db.pragma('wal_checkpoint(TRUNCATE)');
    assert.ok(fs.statSync(file).size < pagesBefore * 4096 / 4);
    db.close();
  });

  test('a new store is created with incremental vacuum', () => {
    const db = openDb(path.join(tmp.dir, 'new.db'));
    assert.equal(db.pragma('auto_vacuum', { simple: true }), 2);
    db.close();
  });

  test('the shipped default policy says the defaults', () => {
    assert.deepEqual(loadPolicyFile(shippedPolicyPath('default')).retention, RETENTION_DEFAULTS);
  });

  test("a repository's policy cannot set retention (the store is the user's)", () => {
    const user = parsePolicyText('retention: { events_days: 10 }', 'user.yaml');
    const r = mergeRepoPolicy(user, parsePolicyText('retention: { events_days: 1 }', 'repo.yaml'), { trusted: true });
    assert.deepEqual(r.policy.retention, { events_days: 10 });
    assert.deepEqual(r.refused.map((x) => x.what), ['retention']);
  });
});
