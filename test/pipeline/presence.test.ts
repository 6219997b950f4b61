import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as presenceModule from '../../src/pipeline/presence.js';
import { AwayAlarm, Presence, allowance, DEFAULT_AWAY_AFTER_MS } from '../../src/pipeline/presence.js';
import { NotificationBatcher, shouldNotifyNow, type Note } from '../../src/report/notification-batcher.js';

const T0 = 1_700_000_000_000;
const MIN = 60_000;

describe('Presence', () => {
  test('active after fs activity or CLI use, away after the threshold (default 15 min)', () => {
    const p = new Presence({ clock: () => T0 });
    assert.equal(DEFAULT_AWAY_AFTER_MS, 15 * MIN);
    assert.equal(p.mode(T0), 'away', 'nothing seen yet counts as away');
    p.noteFsActivity(T0);
    assert.equal(p.mode(T0 + 14 * MIN), 'active');
    assert.equal(p.awayAt(T0 + MIN), T0 + 15 * MIN);
    assert.equal(p.mode(T0 + 15 * MIN), 'away');
    p.noteCliUse(T0 + 20 * MIN);
    assert.equal(p.mode(T0 + 21 * MIN), 'active', 'a kairos command counts as presence');
    assert.equal(p.lastActivity(), T0 + 20 * MIN);
    // An older fs event arriving late does not move presence back.
    p.noteFsActivity(T0 + 2 * MIN);
    assert.equal(p.lastActivity(), T0 + 20 * MIN);
  });

  test('the away threshold is configurable', () => {
    const p = new Presence({ awayAfterMs: 2 * MIN });
    p.noteFsActivity(T0);
    assert.equal(p.mode(T0 + MIN), 'active');
    assert.equal(p.mode(T0 + 2 * MIN), 'away');
  });

  test('away allows more (longer tick budget, proposals); active defers routine work', () => {
    assert.deepEqual(allowance('active'), { tickBudgetMs: 15_000, deferRoutine: true, prepareMore: false });
    const away = allowance('away');
    assert.equal(away.deferRoutine, false);
    assert.equal(away.prepareMore, true);
    assert.ok(away.tickBudgetMs > allowance('active').tickBudgetMs);
  });

  test('never applies anything, active or away: the module has no apply path', () => {
    const exported = Object.keys(presenceModule);
    for (const name of exported) assert.doesNotMatch(name, /apply|approve/i, name);
    const p = new Presence();
    const members = Object.getOwnPropertyNames(Object.getPrototypeOf(p));
    assert.deepEqual(members.filter((m) => /apply|approve/i.test(m)), []);
    const batcher = new NotificationBatcher({ show: () => {}, showBatch: () => {} });
    assert.deepEqual(Object.getOwnPropertyNames(Object.getPrototypeOf(batcher)).filter((m) => /apply|approve/i.test(m)), []);
    for (const mode of ['active', 'away'] as const) assert.equal('apply' in allowance(mode), false);
  });
});

describe('notifications by presence', () => {
  test('shouldNotifyNow: only urgent ones while active, everything while away', () => {
    assert.equal(shouldNotifyNow('now', 'active'), true);
    assert.equal(shouldNotifyNow('next', 'active'), false);
    assert.equal(shouldNotifyNow('later', 'active'), false);
    for (const u of ['now', 'next', 'later'] as const) assert.equal(shouldNotifyNow(u, 'away'), true);
  });

  test('the batcher holds non-urgent notes while active and flushes them when the user goes away', () => {
    const shown: string[] = [];
    const batches: string[][] = [];
    const b = new NotificationBatcher({
      show: (n) => shown.push(n.title),
      showBatch: (ns) => batches.push(ns.map((n) => n.title)),
      flushEveryMs: 30 * MIN,
    });
    const note = (title: string, urgency: Note['urgency'], at: number): Note => ({ title, body: '', urgency, at });
    assert.equal(b.offer(note('tests broke', 'now', T0), 'active'), 'shown');
    assert.equal(b.offer(note('lint warning', 'later', T0), 'active'), 'held');
    assert.equal(b.offer(note('docs stale', 'next', T0 + MIN), 'active'), 'held');
    assert.deepEqual(shown, ['tests broke']);
    assert.equal(b.tick(T0 + 5 * MIN, 'active'), 0);
    assert.equal(b.pending(), 2);
    assert.equal(b.tick(T0 + 6 * MIN, 'away'), 2);
    assert.deepEqual(batches, [['lint warning', 'docs stale']]);
    assert.equal(b.pending(), 0);
  });

  test('while the user stays active, held notes are shown every N minutes', () => {
    const batches: number[] = [];
    const shown: string[] = [];
    const b = new NotificationBatcher({ show: (n) => shown.push(n.title), showBatch: (ns) => batches.push(ns.length), flushEveryMs: 10 * MIN });
    b.offer({ title: 'a', body: '', urgency: 'later', at: T0 }, 'active');
    assert.equal(b.tick(T0 + 9 * MIN, 'active'), 0);
    assert.equal(b.tick(T0 + 10 * MIN, 'active'), 1);
    assert.deepEqual(shown, ['a'], 'a batch of one is shown as itself');
    assert.deepEqual(batches, []);
  });
});

describe('AwayAlarm: presence tracked per event, not per minute', () => {
  test('a burst re-arms one timer; the wake-up comes once, at the last event + away_after, never before', async () => {
    const awayAfterMs = 300;
    // The alarm's timer is unref'd (it must not keep the daemon alive); this keeps the test's loop up.
    const keepAlive = setInterval(() => undefined, 1000);
    const p = new Presence({ awayAfterMs });
    const woke: number[] = [];
    let resolveWoke: () => void = () => undefined;
    const wokeOnce = new Promise<void>((r) => (resolveWoke = r));
    const alarm = new AwayAlarm(p, () => {
      woke.push(Date.now());
      resolveWoke();
    });
    let last = 0;
    for (let i = 0; i < 10; i++) {
      last = Date.now();
      p.noteFsActivity(last);
      alarm.arm();
      await new Promise((r) => setTimeout(r, 20));
    }
    await wokeOnce;
    assert.equal(woke.length, 1);
    assert.ok(woke[0]! >= last + awayAfterMs, `woke ${woke[0]! - last} ms after the last event`);
    assert.equal(p.mode(), 'away');
    // Activity again: a new wake-up after the new last event.
    const again = new Promise<void>((r) => (resolveWoke = r));
    p.noteCliUse();
    alarm.arm();
    await again;
    assert.equal(woke.length, 2);
    alarm.disarm();
    clearInterval(keepAlive);
  });

  test('arming while already away wakes at once; disarm cancels', () => {
    const p = new Presence({ awayAfterMs: 1000, clock: () => T0 });
    let n = 0;
    const alarm = new AwayAlarm(p, () => n++, () => T0);
    alarm.arm();
    assert.equal(n, 1, 'nothing seen yet: away');
    p.noteFsActivity(T0);
    alarm.arm();
    alarm.disarm();
    assert.equal(n, 1);
  });
});
