import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDb } from '../../src/store/db.js';
import { TaskStore } from '../../src/store/task-store.js';
import { readTaskData } from '../../src/store/task-data.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-task-data-');
after(() => tmp.cleanup());
const at = '2026-11-24T10:00:00.000Z';

/** A real store with one queued task whose `data` text is written as an older (or damaged) store left it. */
function storeWithData(name: string, raw: string) {
  const db = openDb(path.join(tmp.dir, `${name}.db`));
  const bad: Array<{ task: number; problem: string }> = [];
  const tasks = new TaskStore(db, (task, problem) => bad.push({ task, problem }));
  const id = tasks.createFollowUp({ repo: '/r', trigger: 't', kind: 'agent', batchId: null, at, data: {} });
  db.prepare('UPDATE tasks SET data = ? WHERE id = ?').run(raw, id);
  const stored = () => (db.prepare('SELECT data FROM tasks WHERE id = ?').get(id) as { data: string }).data;
  return { db, tasks, id, bad, stored };
}

describe('tasks.data, parsed once in the store', () => {
  test('typed fields come back typed; keys this version does not know are kept, not an error', () => {
    const s = storeWithData('ok', JSON.stringify({ after_task: 3, approval_id: 'abc', pid_start: null, legacy_key: { x: 1 } }));
    const t = s.tasks.get(s.id)!;
    assert.equal(t.data.after_task, 3);
    assert.equal(t.data.approval_id, 'abc');
    assert.equal(t.data.pid_start, null);
    assert.deepEqual(t.data.legacy_key, { x: 1 });
    assert.equal(t.data_problem, null);
    assert.deepEqual(s.bad, []);
    s.db.close();
  });

  test('a key of the wrong type is left out of the typed view, the valid ones stay, and it is reported once', () => {
    const raw = JSON.stringify({ approval_id: 42, after_task: 'seven', instruction: 'fix it', pid: 12 });
    const s = storeWithData('wrong-type', raw);
    for (const t of [s.tasks.get(s.id)!, s.tasks.queued()[0]!, s.tasks.list()[0]!]) {
      assert.equal(t.data.approval_id, undefined);
      assert.equal(t.data.after_task, undefined);
      assert.equal(t.data.instruction, 'fix it');
      assert.equal(t.data.pid, 12);
      assert.match(t.data_problem ?? '', /approval_id/);
      assert.match(t.data_problem ?? '', /after_task/);
    }
    assert.equal(s.bad.length, 1, 'one report per task, not one per read');
    assert.equal(s.bad[0]!.task, s.id);
    assert.equal(s.stored(), raw, 'reading never rewrites the stored text');
    s.db.close();
  });

  test('text that is not a JSON object reads as empty data with the reason, never a throw', () => {
    for (const [name, raw] of [['not-json', '{"pid": 4'], ['array', '[1,2]'], ['null', 'null']] as const) {
      const s = storeWithData(name, raw);
      const t = s.tasks.get(s.id)!;
      assert.deepEqual(t.data, {});
      assert.ok(t.data_problem, `${name}: flagged`);
      assert.equal(s.bad.length, 1);
      s.db.close();
    }
  });

  test('patchData merges into the stored text: unknown and unreadable keys survive a patch', () => {
    const s = storeWithData('patch', JSON.stringify({ after_task: 'seven', legacy_key: 1 }));
    s.tasks.patchData(s.id, { cost_micro: 5, proposal_id: 'p1' });
    assert.deepEqual(JSON.parse(s.stored()), { after_task: 'seven', legacy_key: 1, cost_micro: 5, proposal_id: 'p1' });
    const t = s.tasks.get(s.id)!;
    assert.equal(t.data.cost_micro, 5);
    assert.equal(t.data.after_task, undefined);
    s.db.close();
  });

  test('patchData on text that is not a JSON object keeps that text under unreadable_data', () => {
    const s = storeWithData('patch-bad', 'garbage');
    s.tasks.patchData(s.id, { pid: 9 });
    assert.deepEqual(JSON.parse(s.stored()), { unreadable_data: 'garbage', pid: 9 });
    assert.equal(s.tasks.get(s.id)!.data.pid, 9);
    s.db.close();
  });

  test('a pid that would aim a restart\'s signal at every process, its own group or init is left out', () => {
    for (const pid of [-1, 0, 1, 2.5]) {
      const r = readTaskData(JSON.stringify({ pid, pid_start: null, after_task: 4 }));
      assert.equal(r.data.pid, undefined, `pid ${pid}`);
      assert.equal(r.data.after_task, 4);
      assert.match(r.problem ?? '', /^left out pid: /);
    }
    assert.equal(readTaskData(JSON.stringify({ pid: 4242 })).data.pid, 4242);
  });

  test('readTaskData: a default task ({}) is valid and empty', () => {
    assert.deepEqual(readTaskData('{}'), { data: {}, problem: null });
  });
});
