import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDb } from '../../src/store/db.js';
import { EventStore } from '../../src/store/event-store.js';
import { TaskStore } from '../../src/store/task-store.js';
import { StoreError } from '../../src/core/errors.js';
import { tempDir } from '../support/temp.js';

// Rows leave the store typed by their statements (prepare<Bind, Row>), and the JSON columns are parsed
// through their schemas: a row changed behind Kairos's back is a StoreError naming it, never a value of
// the wrong shape passed on as if it were typed.

const tmp = tempDir('kairos-typed-rows-');
after(() => tmp.cleanup());
const at = '2026-11-24T10:00:00.000Z';

function stores(name: string) {
  const db = openDb(path.join(tmp.dir, `${name}.db`));
  return { db, events: new EventStore(db), tasks: new TaskStore(db) };
}

describe('events read back through the event schema', () => {
  test('every kind of event comes back as it was stored: type, data, and a path only where one was stored', () => {
    const { db, events } = stores('round-trip');
    const stored = events.appendMany([
      { type: 'file.changed', repo: '/r', path: 'src/a.ts', at, origin: 'user', data: {} },
      { type: 'git.commit', repo: '/r', at, origin: 'user', data: { from: 'a1', to: 'b2', branch: 'main' } },
      { type: 'cron', repo: '/r', at, origin: 'daemon', data: { trigger: 'nightly', slot: at, catchUp: true } },
      { type: 'manual', repo: '/r', at, origin: 'user', data: { note: 'look at the tests' } },
    ]);
    const back = events.byIds(stored.map((e) => e.id));
    assert.deepEqual(
      back.map((e) => ({ id: e.id, type: e.type, path: e.path, data: e.data })),
      [
        { id: stored[0]!.id, type: 'file.changed', path: 'src/a.ts', data: {} },
        { id: stored[1]!.id, type: 'git.commit', path: undefined, data: { from: 'a1', to: 'b2', branch: 'main' } },
        { id: stored[2]!.id, type: 'cron', path: undefined, data: { trigger: 'nightly', slot: at, catchUp: true } },
        { id: stored[3]!.id, type: 'manual', path: undefined, data: { note: 'look at the tests' } },
      ],
    );
    assert.equal('path' in back[1]!, false, 'a git event has no path key at all');
    db.close();
  });

  test('a row edited into something the schema refuses is a StoreError naming the event, not a mistyped event', () => {
    const { db, events } = stores('damaged');
    const [good, bad] = events.appendMany([
      { type: 'file.changed', repo: '/r', path: 'a', at, origin: 'user', data: {} },
      { type: 'cron', repo: '/r', at, origin: 'daemon', data: { trigger: 'nightly', slot: at, catchUp: false } },
    ]);
    // A cron event without its trigger: the daemon would otherwise fire "undefined".
    db.prepare('UPDATE events SET data = ? WHERE id = ?').run('{"slot":"x"}', bad!.id);
    assert.deepEqual(events.byIds([good!.id]).map((e) => e.id), [good!.id], 'an intact row still reads');
    assert.throws(
      () => events.byIds([bad!.id]),
      (e: unknown) => e instanceof StoreError && e.message.includes(`event ${bad!.id}`) && e.message.includes('trigger'),
    );
    db.close();
  });
});

describe('batch paths read back through their schema', () => {
  test("a batch's paths come back as the sorted list that was stored", () => {
    const { db, events, tasks } = stores('paths');
    const [e] = events.appendMany([{ type: 'file.changed', repo: '/r', path: 'b', at, origin: 'user', data: {} }]);
    const { batchId } = tasks.createBatchTask({ repo: '/r', trigger: 't', kind: 'command', command: 'true', eventIds: [e!.id], paths: ['b', 'a', 'b'], at });
    assert.deepEqual(tasks.batchPaths(batchId), ['a', 'b']);
    db.close();
  });

  test('a paths column that is not a list of strings is refused rather than handed on', () => {
    const { db, events, tasks } = stores('bad-paths');
    const [e] = events.appendMany([{ type: 'file.changed', repo: '/r', path: 'a', at, origin: 'user', data: {} }]);
    const { batchId } = tasks.createBatchTask({ repo: '/r', trigger: 't', kind: 'command', command: 'true', eventIds: [e!.id], paths: ['a'], at });
    db.prepare('UPDATE batches SET paths = ? WHERE id = ?').run('[1, {"x": 2}]', batchId);
    assert.throws(() => tasks.batchPaths(batchId));
    db.close();
  });
});
