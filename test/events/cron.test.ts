import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { cronSlots } from '../../src/store/cron-store.js';
import { CronError, previousSlot, startCron, validateCron, type CronDraft } from '../../src/events/cron.js';
import { EventDraft } from '../../src/events/event.js';
import { tempDir } from '../support/temp.js';

const temps: Array<{ cleanup(): void }> = [];
const dbs: Db[] = [];
function db(): Db {
  const t = tempDir('kairos-cron-');
  temps.push(t);
  const d = openDb(path.join(t.dir, 'kairos.db'));
  dbs.push(d);
  return d;
}
after(() => {
  dbs.forEach((d) => d.close());
  temps.forEach((t) => t.cleanup());
});

const REPO = '/repos/alpha';
function lastSlot(d: Db, trigger: string): string | undefined {
  return (d.prepare('SELECT last_slot FROM cron_runs WHERE repo = ? AND trigger = ?').get(REPO, trigger) as { last_slot: string } | undefined)
    ?.last_slot;
}
function setLastSlot(d: Db, trigger: string, slot: Date): void {
  d.prepare('INSERT INTO cron_runs (repo, trigger, last_slot) VALUES (?, ?, ?)').run(REPO, trigger, slot.toISOString());
}

function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error(`condition not met within ${timeoutMs} ms`));
      setTimeout(tick, 25);
    };
    tick();
  });
}

describe('validateCron', () => {
  test('accepts 5- and 6-field expressions', () => {
    assert.equal(validateCron('0 9 * * 1-5'), null);
    assert.equal(validateCron('*/10 * * * * *'), null);
    assert.equal(validateCron('@daily'), null);
  });
  test('names what is wrong', () => {
    assert.match(validateCron('61 * * * *') ?? '', /minute/);
    assert.match(validateCron('* * * *') ?? '', /5 or 6 fields/);
    assert.match(validateCron('0 0 30 2 *') ?? '', /day/);
    assert.notEqual(validateCron('banana'), null);
  });
  test('startCron refuses an invalid expression with a CronError naming the trigger', () => {
    assert.throws(
      () => startCron({ schedules: [{ repo: REPO, trigger: 'nightly', expr: '99 * * * *' }], slots: cronSlots(db()), onFire: () => {} }),
      (e: unknown) => e instanceof CronError && /nightly/.test(e.message) && /99 \* \* \* \*/.test(e.message),
    );
  });
});

describe('catch-up on start', () => {
  // 12:34:56 local time on a fixed day; the hourly schedule's last slot is 12:00 local.
  const now = new Date(2025, 2, 10, 12, 34, 56);
  const hourly = { repo: REPO, trigger: 'hourly', expr: '0 * * * *' };

  test('after five missed hourly slots, fires exactly once, for the latest slot, with catchUp', () => {
    const d = db();
    setLastSlot(d, 'hourly', new Date(2025, 2, 10, 7, 0, 0));
    const fired: CronDraft[] = [];
    const cron = startCron({ schedules: [hourly], slots: cronSlots(d), onFire: (e) => void fired.push(e), now: () => now });
    cron.stop();

    assert.equal(fired.length, 1);
    const e = fired[0]!;
    assert.equal(e.type, 'cron');
    assert.equal(e.repo, REPO);
    assert.deepEqual(e.data, { trigger: 'hourly', slot: new Date(2025, 2, 10, 12, 0, 0).toISOString(), catchUp: true });
    assert.equal(e.at, now.toISOString());
    assert.ok(EventDraft.safeParse(e).success, 'a valid cron event for the store');
    assert.equal(lastSlot(d, 'hourly'), new Date(2025, 2, 10, 12, 0, 0).toISOString());

    // A restart right after does not fire the same slot again.
    const again: CronDraft[] = [];
    startCron({ schedules: [hourly], slots: cronSlots(d), onFire: (ev) => void again.push(ev), now: () => new Date(now.getTime() + 60_000) }).stop();
    assert.equal(again.length, 0);
  });

  test('a schedule seen for the first time does not fire; it records where it is', () => {
    const d = db();
    const fired: CronDraft[] = [];
    startCron({ schedules: [hourly], slots: cronSlots(d), onFire: (e) => void fired.push(e), now: () => now }).stop();
    assert.equal(fired.length, 0);
    assert.equal(lastSlot(d, 'hourly'), new Date(2025, 2, 10, 12, 0, 0).toISOString());
  });

  test('no catch-up when the latest slot already ran', () => {
    const d = db();
    setLastSlot(d, 'hourly', new Date(2025, 2, 10, 12, 0, 0));
    const fired: CronDraft[] = [];
    startCron({ schedules: [hourly], slots: cronSlots(d), onFire: (e) => void fired.push(e), now: () => now }).stop();
    assert.equal(fired.length, 0);
  });

  test('schedules are independent: only the one that missed a slot catches up', () => {
    const d = db();
    const daily = { repo: REPO, trigger: 'daily', expr: '30 8 * * *' };
    setLastSlot(d, 'hourly', new Date(2025, 2, 10, 12, 0, 0));
    setLastSlot(d, 'daily', new Date(2025, 2, 8, 8, 30, 0));
    const fired: CronDraft[] = [];
    startCron({ schedules: [hourly, daily], slots: cronSlots(d), onFire: (e) => void fired.push(e), now: () => now }).stop();
    assert.deepEqual(fired.map((f) => [f.data.trigger, f.data.slot]), [['daily', new Date(2025, 2, 10, 8, 30, 0).toISOString()]]);
  });

  test('if onFire throws, the slot is not recorded, so the next start tries again', () => {
    const d = db();
    setLastSlot(d, 'hourly', new Date(2025, 2, 10, 7, 0, 0));
    startCron({ schedules: [hourly], slots: cronSlots(d), onFire: () => { throw new Error('store is full'); }, now: () => now }).stop();
    assert.equal(lastSlot(d, 'hourly'), new Date(2025, 2, 10, 7, 0, 0).toISOString());
    const fired: CronDraft[] = [];
    startCron({ schedules: [hourly], slots: cronSlots(d), onFire: (e) => void fired.push(e), now: () => now }).stop();
    assert.equal(fired.length, 1);
  });

  test('what onFire writes commits with the slot (same transaction)', () => {
    const d = db();
    setLastSlot(d, 'hourly', new Date(2025, 2, 10, 7, 0, 0));
    startCron({
      schedules: [hourly],
      slots: cronSlots(d),
      now: () => now,
      onFire: (e) => {
        d.prepare("INSERT INTO events (type, repo, at, data) VALUES ('cron', ?, ?, ?)").run(e.repo, e.at, JSON.stringify(e.data));
        throw new Error('crash after storing');
      },
    }).stop();
    assert.equal((d.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n, 0, 'rolled back with the slot');
  });

  test('previousSlot counts a slot exactly at now as past', () => {
    const at = new Date(2025, 2, 10, 12, 0, 0);
    assert.equal(previousSlot('0 * * * *', at)?.getTime(), at.getTime());
    assert.equal(previousSlot('0 * * * *', new Date(at.getTime() - 1))?.getTime(), new Date(2025, 2, 10, 11, 0, 0).getTime());
  });
});

describe('live schedule', () => {
  test('an every-second schedule really fires, once per slot, and stop() stops it', async () => {
    const d = db();
    const fired: CronDraft[] = [];
    const cron = startCron({ schedules: [{ repo: REPO, trigger: 'tick', expr: '* * * * * *' }], slots: cronSlots(d), onFire: (e) => void fired.push(e), jitterMs: 0 });
    try {
      await waitFor(() => fired.length >= 2, 6000);
    } finally {
      cron.stop();
    }
    const slots = fired.map((f) => f.data.slot);
    assert.equal(new Set(slots).size, slots.length, 'each slot once');
    for (const f of fired) {
      assert.equal(f.data.catchUp, false);
      assert.equal(new Date(f.data.slot).getMilliseconds(), 0);
      assert.ok(EventDraft.safeParse(f).success);
    }
    assert.equal(lastSlot(d, 'tick'), slots.at(-1));

    // A second, running schedule on the same slots is the clock: once it has fired for two slots after
    // stop(), the stopped schedule has had two chances to fire.
    const countAtStop = fired.length;
    const fence: CronDraft[] = [];
    const running = startCron({ schedules: [{ repo: REPO, trigger: 'fence', expr: '* * * * * *' }], slots: cronSlots(d), onFire: (e) => void fence.push(e), jitterMs: 0 });
    try {
      await waitFor(() => fence.filter((f) => f.data.slot > slots.at(-1)!).length >= 2, 6000);
    } finally {
      running.stop();
    }
    assert.equal(fired.length, countAtStop, 'nothing fires after stop()');
  });

  test('with jitter, a firing still carries its scheduled slot', async () => {
    const d = db();
    const fired: CronDraft[] = [];
    const cron = startCron({ schedules: [{ repo: REPO, trigger: 'tick', expr: '*/2 * * * * *' }], slots: cronSlots(d), onFire: (e) => void fired.push(e), jitterMs: 800 });
    try {
      await waitFor(() => fired.length >= 1, 6000);
    } finally {
      cron.stop();
    }
    const slot = new Date(fired[0]!.data.slot);
    assert.equal(slot.getSeconds() % 2, 0);
    assert.equal(slot.getMilliseconds(), 0);
    assert.ok(Date.parse(fired[0]!.at) >= slot.getTime());
  });
});
