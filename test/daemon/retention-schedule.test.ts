/**
 * When the retention job first runs: a minute after start only when the store may hold rows past
 * retention; a young or empty store is not pruned until its oldest row can be old enough (at most six
 * hours away, like every later run), so an idle daemon is not woken for a prune with nothing to do.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pino } from 'pino';
import { openDb, type Db } from '../../src/store/db.js';
import { EventStore } from '../../src/store/event-store.js';
import { RetentionJob } from '../../daemon/retention-job.js';
import type { EventDraft } from '../../src/events/event.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-retention-schedule-');
after(() => tmp.cleanup());
const DAY = 86_400_000;
const HOUR = 3_600_000;

function job(name: string): { db: Db; events: EventStore; job: RetentionJob } {
  const db = openDb(path.join(tmp.dir, `${name}.db`));
  const events = new EventStore(db);
  const j = new RetentionJob({ db, events, settings: () => ({ events_days: 30, tasks_days: 90 }), log: pino({ level: 'silent' }), storeWritable: () => true });
  return { db, events, job: j };
}
const eventAt = (at: number): EventDraft => ({ type: 'file.changed', repo: '/r', at: new Date(at).toISOString(), origin: 'user', path: 'a.ts', data: {} }) as EventDraft;

describe('retention: the first run', () => {
  const now = Date.now();
  test('an empty store: six hours after start', () => {
    const s = job('empty');
    assert.equal(s.job.firstRunInMs(now), 6 * HOUR);
    s.db.close();
  });
  test('an event past retention: a minute after start', () => {
    const s = job('old');
    s.events.appendMany([eventAt(now - 31 * DAY), eventAt(now)]);
    assert.equal(s.job.firstRunInMs(now), 60_000);
    s.db.close();
  });
  test('the oldest event an hour short of retention: in an hour', () => {
    const s = job('young');
    s.events.appendMany([eventAt(now - 30 * DAY + HOUR), eventAt(now)]);
    assert.equal(s.job.firstRunInMs(now), HOUR);
    s.db.close();
  });
  test('an old task with no old event: a minute after start', () => {
    const s = job('task');
    s.db.prepare("INSERT INTO tasks (repo, trigger, kind, state, created_at) VALUES ('/r', 't', 'command', 'succeeded', ?)").run(new Date(now - 91 * DAY).toISOString());
    assert.equal(s.job.firstRunInMs(now), 60_000);
    s.db.close();
  });
});
