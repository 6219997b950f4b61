import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDb } from '../../src/store/db.js';
import { TaskStore, type TaskRow } from '../../src/store/task-store.js';
import { TaskRunner, type StartGate } from '../../src/pipeline/runner.js';
import { tempDir } from '../support/temp.js';
import { waitFor } from '../support/kairos.js';

const tmp = tempDir('kairos-runner-');
after(() => tmp.cleanup());
const at = new Date().toISOString();

function setup(gate: (t: TaskRow) => StartGate, maxConcurrent = 2) {
  const db = openDb(path.join(tmp.dir, `${Math.random()}.db`));
  const tasks = new TaskStore(db);
  const order: number[] = [];
  const deferred: string[] = [];
  let running = 0;
  let peak = 0;
  const runner = new TaskRunner({
    tasks,
    maxConcurrent,
    gate,
    onDeferred: (t, reason) => deferred.push(`${t.id}:${reason}`),
    execute: async (t) => {
      running++;
      peak = Math.max(peak, running);
      order.push(t.id);
      await new Promise((r) => setTimeout(r, 30));
      running--;
      return { state: 'done' };
    },
    onFinished: () => {},
    onError: (e) => assert.fail(e),
  });
  const add = (trigger: string) => tasks.createBatchTask({ repo: '/r', trigger, kind: 'command', command: 'x', eventIds: [], paths: [], at }).taskId;
  return { db, tasks, runner, order, deferred, add, peak: () => peak };
}

test('a task the gate holds back stays queued and starts at its retry time; one without a time waits for retryDeferred', async () => {
  // Far enough ahead that a loaded machine still checks the hold before the retry time comes.
  let allowAt = Date.now() + 2000;
  let paused = true;
  const s = setup((t) => (t.trigger === 'later' && Date.now() < allowAt ? { go: false, reason: 'quiet hours', retryAt: allowAt } : t.trigger === 'paused' && paused ? { go: false, reason: 'paused' } : { go: true }));
  const later = s.add('later');
  const pausedTask = s.add('paused');
  const now = s.add('now');
  s.runner.enqueue(later);
  s.runner.enqueue(pausedTask);
  s.runner.enqueue(now);
  await waitFor(() => s.order.includes(now), { what: 'ungated task ran' });
  assert.equal(s.tasks.get(later)!.state, 'queued');
  assert.deepEqual(s.runner.deferredTaskIds().sort((a, b) => a - b), [later, pausedTask].sort((a, b) => a - b));
  // The hold is in the row, for `kairos tasks` and `status`: why, until when (none for a pause), since when.
  const heldLater = s.tasks.get(later)!;
  assert.equal(heldLater.held_reason, 'quiet hours');
  assert.equal(heldLater.held_until, new Date(allowAt).toISOString());
  assert.ok(heldLater.held_since);
  assert.equal(s.tasks.get(pausedTask)!.held_reason, 'paused');
  assert.equal(s.tasks.get(pausedTask)!.held_until, null);
  assert.equal(s.tasks.get(now)!.held_reason, null, 'a task the gate let through was never held');
  assert.deepEqual(s.tasks.held().map((t) => t.id).sort((a, b) => a - b), [later, pausedTask].sort((a, b) => a - b));
  await waitFor(() => s.tasks.get(later)!.state === 'done', { what: 'deferred task ran at its time' });
  assert.equal(s.tasks.get(later)!.held_reason, null, 'the hold is cleared when the task starts');
  assert.equal(s.tasks.get(later)!.held_until, null);
  assert.equal(s.tasks.get(pausedTask)!.state, 'queued', 'no retry time: it waits for resume');
  paused = false;
  s.runner.retryDeferred();
  await waitFor(() => s.tasks.get(pausedTask)!.state === 'done', { what: 'resumed' });
  assert.ok(s.deferred.some((d) => d.endsWith(':quiet hours')));
  allowAt = 0;
  await s.runner.stop(1000);
  s.db.close();
});

test('never more than maxConcurrent at once, and one at a time per trigger', async () => {
  const s = setup(() => ({ go: true }), 2);
  const ids = ['a', 'a', 'b', 'c', 'd'].map((t) => s.add(t));
  // Same-trigger tasks join while queued, so the two 'a's are one task.
  assert.equal(ids[0], ids[1]);
  for (const id of new Set(ids)) s.runner.enqueue(id);
  await waitFor(() => s.order.length === 4, { what: 'all ran' });
  assert.equal(s.peak(), 2);
  await s.runner.stop(1000);
  s.db.close();
});
