/**
 * StoreGuard against a real SQLite store that is really full: `PRAGMA max_page_count` pinned at the
 * file's size makes SQLite answer SQLITE_FULL ("database or disk is full") exactly as a full disk does,
 * and raising it is the space coming back. (test/e2e/disk-full.test.ts does the same with a tmpfs.)
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pino } from 'pino';
import { openDb, type Db } from '../../src/store/db.js';
import { EventStore } from '../../src/store/event-store.js';
import { StoreGuard } from '../../daemon/store-guard.js';
import type { EventDraft, StoredEvent } from '../../src/events/event.js';
import { waitFor } from '../support/kairos.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-guard-');
after(() => tmp.cleanup());

const file = (p: string): EventDraft => ({ type: 'file.changed', repo: '/r', at: new Date().toISOString(), origin: 'user', path: p, data: { pad: 'x'.repeat(3000) } }) as EventDraft;

function full(db: Db): void {
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
}
function room(db: Db): void {
  db.pragma('max_page_count = 1073741823');
}

describe('StoreGuard (events held while the store is full)', () => {
  test('holds events and later writes in order, writes them all when space returns, says so twice', async (t) => {
    // The retry interval runs on a fake clock: "several retries, all still full" is then a fact, not a hope.
    t.mock.timers.enable({ apis: ['setInterval'] });
    const db = openDb(path.join(tmp.dir, 'guard.db'));
    const events = new EventStore(db);
    // Each failed retry rolls back and recounts: the count of recounts is the count of retries that met a full store.
    const recounts = t.mock.method(events, 'recount');
    const stored: StoredEvent[] = [];
    const notes: string[] = [];
    const order: string[] = [];
    const guard = new StoreGuard({
      db,
      events,
      log: pino({ level: 'silent' }),
      notify: (title) => notes.push(title),
      onStored: (s) => {
        stored.push(...s);
        order.push(...s.map((e) => `event ${'path' in e ? e.path : ''}`));
      },
      retryMs: 20,
    });
    assert.equal(guard.write([file('a')]).length, 1, 'written at once while there is room');
    events.count();
    full(db);
    assert.deepEqual(guard.write([file('b'), file('c')]), [], 'held: nothing stored yet');
    assert.equal(guard.health().degraded, 'disk full');
    let batchRan = false;
    guard.run('a batch', () => {
      db.prepare("INSERT INTO batches (repo, trigger, created_at, event_count, paths) VALUES ('/r', 't', 'now', 0, ?)").run('x'.repeat(4000));
      batchRan = true;
      order.push('batch');
    });
    guard.write([file('d')]);
    assert.equal(batchRan, false, 'a later write waits behind the held events');
    assert.deepEqual(guard.health(), { degraded: 'disk full', since: guard.health().since, held: 3, waiting_writes: 1, dropped: 0 });
    const before = recounts.mock.callCount();
    t.mock.timers.tick(100); // five retry intervals, all still full
    assert.ok(recounts.mock.callCount() - before >= 5, `expected five failed retries, saw ${recounts.mock.callCount() - before}`);
    assert.equal(guard.health().held, 3);

    room(db);
    t.mock.timers.tick(20); // the next retry finds room
    await waitFor(() => guard.health().degraded === null, { timeoutMs: 10_000, intervalMs: 10, what: 'recovered' });
    assert.deepEqual(order, ['event b', 'event c', 'event d', 'batch'], 'arrival order, the other write after them');
    assert.equal(batchRan, true);
    assert.deepEqual(notes, ['Kairos: disk full', 'Kairos: disk space is back']);
    assert.equal(events.count(), 4);
    assert.equal((db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n, 4, 'the cached count matches the table');
    assert.deepEqual((db.prepare('SELECT path FROM events ORDER BY id').all() as { path: string }[]).map((r) => r.path), ['a', 'b', 'c', 'd']);
    guard.stop();
    db.close();
  });

  test('stop with the store still full reports what could not be written; other errors pass through', () => {
    const db = openDb(path.join(tmp.dir, 'stop.db'));
    const events = new EventStore(db);
    const guard = new StoreGuard({ db, events, log: pino({ level: 'silent' }), notify: () => undefined, onStored: () => undefined, retryMs: 60_000 });
    full(db);
    guard.write([file('x'), file('y')]);
    assert.equal(guard.stop(), 2);
    const plain = new StoreGuard({ db, events, log: pino({ level: 'silent' }), notify: () => undefined, onStored: () => undefined });
    room(db);
    assert.throws(() => plain.run('bad sql', () => db.prepare('SELECT * FROM no_such_table').all()), /no such table/);
    assert.equal(plain.health().degraded, null);
    db.close();
  });
});
