import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDb } from '../../src/store/db.js';
import { EventStore } from '../../src/store/event-store.js';
import { TaskStore, TaskStateError } from '../../src/store/task-store.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-tasks-');
after(() => tmp.cleanup());
const at = '2026-11-24T10:00:00.000Z';

function stores(name: string) {
  const db = openDb(path.join(tmp.dir, `${name}.db`));
  return { db, events: new EventStore(db), tasks: new TaskStore(db) };
}

describe('EventStore', () => {
  test('appendMany stores 10,000 events in one transaction, in order, with ids', () => {
    const { events, db } = stores('storm');
    const drafts = Array.from({ length: 10_000 }, (_, i) => ({ type: 'file.changed' as const, repo: '/r', path: `f${i}`, at, origin: 'user' as const, data: {} }));
    const stored = events.appendMany(drafts);
    assert.equal(stored.length, 10_000);
    assert.equal(stored[9999]!.id - stored[0]!.id, 9999);
    assert.equal(events.count(), 10_000);
    assert.equal(events.unsettled().length, 10_000);
    events.markSettled(stored.slice(0, 5000).map((e) => e.id), at);
    assert.equal(events.unsettled().length, 5000);
    const newest = events.list({ limit: 1 })[0]!;
    assert.equal(newest.path, 'f9999');
    db.close();
  });
});

describe('TaskStore', () => {
  test('a batch joins a still-queued task of the same trigger instead of queueing another', () => {
    const { events, tasks, db } = stores('join');
    const [a, b] = events.appendMany([
      { type: 'file.changed', repo: '/r', path: 'a', at, origin: 'user', data: {} },
      { type: 'file.changed', repo: '/r', path: 'b', at, origin: 'user', data: {} },
    ]);
    const first = tasks.createBatchTask({ repo: '/r', trigger: 't', kind: 'command', command: 'true', eventIds: [a!.id], paths: ['a'], at });
    const second = tasks.createBatchTask({ repo: '/r', trigger: 't', kind: 'command', command: 'true', eventIds: [b!.id], paths: ['b'], at });
    assert.equal(second.joined, true);
    assert.equal(second.taskId, first.taskId);
    assert.deepEqual(tasks.batchPaths(first.batchId), ['a', 'b']);
    tasks.move(first.taskId, 'queued', 'running', at);
    const third = tasks.createBatchTask({ repo: '/r', trigger: 't', kind: 'command', command: 'true', eventIds: [b!.id], paths: ['b'], at });
    assert.equal(third.joined, false, 'a running task is not joined: the change needs a new run');
    assert.deepEqual([...tasks.triggersHolding(b!.id)], ['t']);
    db.close();
  });

  test('moves are checked: illegal or stale moves throw and change nothing', () => {
    const { tasks, db } = stores('moves');
    const { taskId } = tasks.createBatchTask({ repo: '/r', trigger: 't', kind: 'command', command: 'true', eventIds: [], paths: [], at });
    assert.throws(() => tasks.move(taskId, 'queued', 'done', at), TaskStateError);
    tasks.move(taskId, 'queued', 'running', at);
    assert.throws(() => tasks.move(taskId, 'queued', 'running', at), /expected state 'queued', found 'running'/);
    tasks.move(taskId, 'running', 'failed', at, { exit_code: 1, output: 'boom', duration_ms: 5 });
    const t = tasks.get(taskId)!;
    assert.equal(t.state, 'failed');
    assert.equal(t.exit_code, 1);
    assert.equal(t.finished_at, at);
    const n = db.prepare('SELECT count(*) AS n FROM task_transitions WHERE task_id = ?').get(taskId) as { n: number };
    assert.equal(n.n, 3);
    db.close();
  });

  test('interruptRunning marks running tasks interrupted and leaves queued ones to run', () => {
    const { tasks, db } = stores('interrupt');
    const r = tasks.createBatchTask({ repo: '/r', trigger: 'a', kind: 'command', command: 'true', eventIds: [], paths: [], at });
    const q = tasks.createBatchTask({ repo: '/r', trigger: 'b', kind: 'command', command: 'true', eventIds: [], paths: [], at });
    tasks.move(r.taskId, 'queued', 'running', at);
    const hit = tasks.interruptRunning(at);
    assert.deepEqual(hit.map((t) => t.id), [r.taskId]);
    assert.equal(tasks.get(r.taskId)!.state, 'interrupted');
    assert.deepEqual(tasks.queued().map((t) => t.id), [q.taskId]);
    db.close();
  });
});
