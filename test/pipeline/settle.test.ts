import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Settler, type SettledBatch } from '../../src/pipeline/settle.js';
import { Trigger } from '../../src/policy/schema.js';
import type { StoredEvent } from '../../src/events/event.js';
import { FakeClock } from '../support/fake-clock.js';
import { CREDIT_MIN_SETTLE_MS, QUIET_BEFORE } from '../../src/events/quiet-credit.js';

const REPO = '/r';
let nextId = 1;
const fsEvent = (path: string, origin: 'user' | 'daemon' = 'user'): StoredEvent =>
  ({ id: nextId++, type: 'file.changed', repo: REPO, path, at: new Date().toISOString(), origin, data: {} }) as StoredEvent;
const gitEvent = (type: string): StoredEvent =>
  ({ id: nextId++, type, repo: REPO, at: new Date().toISOString(), origin: 'user', data: {} }) as StoredEvent;

function setup(triggers: unknown[], extra: { notBefore?: (r: string, t: Trigger) => number; alreadyBatched?: (id: number, t: string) => boolean } = {}) {
  const clock = new FakeClock();
  const batches: SettledBatch[] = [];
  const settled: number[] = [];
  const parsed = triggers.map((t) => Trigger.parse(t));
  const s = new Settler({
    clock,
    defaultSettleMs: 1500,
    triggersFor: () => parsed,
    onBatch: (b, ids) => {
      batches.push(b);
      settled.push(...ids);
    },
    onSettled: (ids) => settled.push(...ids),
    ...extra,
  });
  return { clock, batches, settled, s };
}

describe('Settler', () => {
  test('a burst becomes one batch after the quiet window, with every path', () => {
    const { clock, batches, s } = setup([{ name: 'test', on: { fs: ['src/**'] }, run: 'true' }]);
    for (let i = 0; i < 100; i++) {
      s.add([fsEvent(`src/f${i}.ts`)]);
      clock.advance(100); // keeps resetting the window
    }
    assert.equal(batches.length, 0);
    // the last event came 100 ms ago: 1,399 ms more is still inside the 1,500 ms window
    clock.advance(1399);
    assert.equal(batches.length, 0, 'still inside the quiet window');
    clock.advance(1);
    assert.equal(batches.length, 1);
    assert.equal(batches[0]!.paths.length, 100);
    assert.equal(batches[0]!.eventIds.length, 100);
  });

  test('a steady stream keeps one armed timer per window, and the window still counts from the newest event', () => {
    const { clock, batches, s } = setup([{ name: 'fast', on: { fs: ['**'] }, run: 'true', settle_ms: 200 }]);
    let armed = 0;
    const setTimeout = clock.setTimeout.bind(clock);
    clock.setTimeout = (fn, ms) => {
      armed++;
      return setTimeout(fn, ms);
    };
    for (let i = 0; i < 40; i++) {
      s.add([fsEvent(`out${i % 7}.log`)]);
      clock.advance(50);
    }
    assert.equal(batches.length, 0, 'never 200 ms of quiet');
    // Re-armed only when a window ends with newer events in it (every ~150 ms here), not per event.
    assert.ok(armed <= 15, `a timer per window, not one per event: ${armed} armed for 40 events`);
    assert.equal(clock.pendingTimers(), 1);
    // The newest event came 50 ms ago: 149 ms more is still inside its window.
    clock.advance(149);
    assert.equal(batches.length, 0);
    clock.advance(1);
    assert.equal(batches.length, 1);
    assert.equal(batches[0]!.eventIds.length, 40);
  });

  test('after stop, events are left unsettled (the next start replays them): no batch, no settle, no timer', () => {
    const { clock, batches, settled, s } = setup([{ name: 'fast', on: { fs: ['src/**'] }, run: 'true', settle_ms: 200 }]);
    s.add([fsEvent('src/a.ts')]);
    s.stop();
    s.add([fsEvent('src/b.ts'), fsEvent('docs/unmatched.md')]);
    assert.equal(clock.pendingTimers(), 0, 'nothing armed after stop: no batch can reach a closed store');
    clock.advance(60_000);
    assert.deepEqual(batches, []);
    assert.deepEqual(settled, []);
  });

  test('settle_ms per trigger overrides the default', () => {
    const { clock, batches, s } = setup([{ name: 'fast', on: { fs: ['**'] }, run: 'true', settle_ms: 200 }]);
    s.add([fsEvent('a')]);
    clock.advance(199);
    assert.equal(batches.length, 0);
    clock.advance(1);
    assert.equal(batches.length, 1);
  });

  test('a burst that never goes quiet still fires at the max wait', () => {
    const { clock, batches, s } = setup([{ name: 't', on: { fs: ['**'] }, run: 'true', settle_ms: 1000 }]);
    for (let i = 0; i < 400 && batches.length === 0; i++) {
      s.add([fsEvent(`log${i}`)]);
      clock.advance(100);
    }
    assert.equal(batches.length, 1, 'fired despite continuous writes');
    assert.ok(batches[0]!.paths.length <= 301);
  });

  test('held while a git operation runs; one batch after release', () => {
    const { clock, batches, s } = setup([{ name: 't', on: { fs: ['**'] }, run: 'true' }]);
    s.hold(REPO, 'rebase');
    s.add(Array.from({ length: 10_000 }, (_, i) => fsEvent(`f/${i}`)));
    clock.advance(60_000);
    assert.equal(batches.length, 0, 'nothing released during the operation');
    s.add([fsEvent('late')]);
    s.release(REPO, 'rebase');
    clock.advance(1500);
    assert.equal(batches.length, 1);
    assert.equal(batches[0]!.paths.length, 10_001, 'zero lost paths');
  });

  test('holds for different reasons overlap: the batch waits until the last one is released', () => {
    const { clock, batches, s } = setup([{ name: 't', on: { fs: ['**'] }, run: 'true' }]);
    s.hold(REPO, 'git');
    s.hold(REPO, 'storm');
    s.add([fsEvent('a')]);
    s.release(REPO, 'storm');
    clock.advance(10_000);
    assert.equal(batches.length, 0, 'the git operation still holds it');
    assert.deepEqual(s.heldRepos(), { [REPO]: ['git'] });
    s.release(REPO, 'git');
    clock.advance(1500);
    assert.equal(batches.length, 1);
  });

  test('a storm hold has a ceiling: a steady 20 writes/s stream releases its batch as it stands, again and again, losing nothing', () => {
    const { clock, batches, s } = setup([{ name: 't', on: { fs: ['**'] }, run: 'true', settle_ms: 300 }]);
    s.hold(REPO, 'storm'); // a stream that never goes quiet: the storm is never released
    const sent: string[] = [];
    for (let i = 0; i < 20 * 300; i++) {
      sent.push(`log/${i}`);
      s.add([fsEvent(`log/${i}`)]);
      clock.advance(50);
    }
    // 5 minutes of stream under a 60 s ceiling: a batch about every minute.
    assert.ok(batches.length >= 4 && batches.length <= 5, `batches: ${batches.length}`);
    const gaps = batches.slice(1).map((b, i) => Number(b.paths[0]!.slice(4)) - Number(batches[i]!.paths[0]!.slice(4)));
    for (const g of gaps) assert.ok(g >= 20 * 59 && g <= 20 * 61, `a batch after ${g / 20} s, not ~60 s`);
    s.release(REPO, 'storm');
    clock.advance(300);
    assert.deepEqual(batches.flatMap((b) => b.paths).sort(), sent.sort(), 'every path in exactly one batch');
  });

  test('a git operation holds without a ceiling', () => {
    const { clock, batches, s } = setup([{ name: 't', on: { fs: ['**'] }, run: 'true' }]);
    s.hold(REPO, 'git');
    s.hold(REPO, 'storm');
    for (let i = 0; i < 20 * 180; i++) {
      s.add([fsEvent(`f${i}`)]);
      clock.advance(50);
    }
    assert.equal(batches.length, 0, 'released during a git operation');
    s.release(REPO, 'git');
    clock.advance(0);
    assert.equal(batches.length, 1, 'the storm ceiling passed long ago: released as soon as git is done');
  });

  test('each trigger gets its own batch; an event is settled only when every trigger has it', () => {
    const { clock, batches, settled, s } = setup([
      { name: 'quick', on: { fs: ['**'] }, run: 'a', settle_ms: 100 },
      { name: 'slow', on: { fs: ['**'] }, run: 'b', settle_ms: 5000 },
    ]);
    const e = fsEvent('x');
    s.add([e]);
    clock.advance(100);
    assert.deepEqual(batches.map((b) => b.trigger.name), ['quick']);
    assert.ok(!settled.includes(e.id), 'slow still holds it');
    clock.advance(5000);
    assert.deepEqual(batches.map((b) => b.trigger.name), ['quick', 'slow']);
    assert.ok(settled.includes(e.id));
  });

  test('events that match nothing are settled at once; the daemon’s own writes match nothing', () => {
    const { batches, settled, s } = setup([{ name: 't', on: { fs: ['src/**'] }, run: 'true' }]);
    const a = fsEvent('docs/readme.md');
    const b = fsEvent('src/own.ts', 'daemon');
    s.add([a, b]);
    assert.deepEqual(settled.sort((x, y) => x - y), [a.id, b.id].sort((x, y) => x - y));
    assert.equal(s.pending().length, 0);
    assert.equal(batches.length, 0);
  });

  test('git event types select triggers; cron events fire only their own trigger', () => {
    const { clock, batches, s } = setup([
      { name: 'on-commit', on: { git: ['commit', 'merge'] }, run: 'x' },
      { name: 'nightly', on: { cron: '0 3 * * *' }, run: 'y' },
      { name: 'other-cron', on: { cron: '0 4 * * *' }, run: 'z' },
    ]);
    s.add([gitEvent('git.checkout')]);
    s.add([gitEvent('git.commit')]);
    s.add([{ id: nextId++, type: 'cron', repo: REPO, at: '', origin: 'user', data: { trigger: 'nightly', slot: 's', catchUp: false } } as StoredEvent]);
    clock.advance(2000);
    assert.deepEqual(batches.map((b) => b.trigger.name).sort(), ['nightly', 'on-commit']);
  });

  test('a git event carrying git’s changed paths fires fs triggers with the matching paths', () => {
    const { clock, batches, s } = setup([
      { name: 'src', on: { fs: ['src/**'] }, run: 'x' },
      { name: 'docs', on: { fs: ['docs/**'] }, run: 'y' },
      { name: 'on-checkout', on: { git: ['checkout'] }, run: 'z' },
    ]);
    const e = gitEvent('git.checkout');
    (e.data as Record<string, unknown>).paths = ['src/a.ts', 'src/b.ts', 'README.md'];
    s.add([e]);
    s.add([fsEvent('src/a.ts')]);
    clock.advance(2000);
    const byName = Object.fromEntries(batches.map((b) => [b.trigger.name, b.paths]));
    assert.deepEqual(byName.src, ['src/a.ts', 'src/b.ts']);
    assert.deepEqual(byName['on-checkout'], []);
    assert.equal(byName.docs, undefined, 'no docs path changed');
  });

  test('cool-down delays the batch rather than dropping it', () => {
    let until = 0;
    const { clock, batches, s } = setup([{ name: 't', on: { fs: ['**'] }, run: 'x', cooldown: '1m' }], { notBefore: () => until });
    until = clock.now() + 60_000;
    s.add([fsEvent('a')]);
    clock.advance(30_000);
    assert.equal(batches.length, 0);
    s.add([fsEvent('b')]);
    clock.advance(30_000);
    assert.equal(batches.length, 1);
    assert.deepEqual(batches[0]!.paths, ['a', 'b']);
  });

  test('replayed events already in a batch of a trigger are not batched again', () => {
    const e = fsEvent('a');
    const { clock, batches, settled, s } = setup([{ name: 't', on: { fs: ['**'] }, run: 'x' }], { alreadyBatched: (id) => id === e.id });
    s.add([e], { replay: true });
    clock.advance(5000);
    assert.equal(batches.length, 0);
    assert.deepEqual(settled, [e.id]);
  });

  test("a watcher's credited quiet moves the deadline earlier by that much, and a later event still extends the window from its own time", () => {
    const { clock, batches, s } = setup([{ name: 't', on: { fs: ['src/**'] }, settle_ms: 1000, run: 'x' }]);
    const credited = (p: string, ms: number): StoredEvent => Object.assign(fsEvent(p), { [QUIET_BEFORE]: ms });
    s.add([credited('src/a', 50)]);
    clock.advance(949);
    assert.equal(batches.length, 0);
    clock.advance(1);
    assert.equal(batches.length, 1, 'quiet for 50 ms before it arrived + 950 ms after = settle_ms');

    // 30 ms later another write: the window counts from it (credit or not), never from the first.
    s.add([credited('src/b', 50)]);
    clock.advance(30);
    s.add([fsEvent('src/c')]);
    clock.advance(999);
    assert.equal(batches.length, 1);
    clock.advance(1);
    assert.deepEqual(batches[1]?.paths, ['src/b', 'src/c']);

    // A credited event arriving after an uncredited one in the same batch does not shorten the window
    // the uncredited one opened (it is the newest that counts).
    s.add([fsEvent('src/d')]);
    clock.advance(10);
    s.add([credited('src/e', 50)]);
    clock.advance(989);
    assert.equal(batches.length, 2);
    clock.advance(1);
    assert.deepEqual(batches[2]?.paths, ['src/d', 'src/e']);
  });

  test('a window shorter than CREDIT_MIN_SETTLE_MS takes no credit: the next change may still sit in the watcher', () => {
    const { clock, batches, s } = setup([{ name: 't', on: { fs: ['src/**'] }, settle_ms: CREDIT_MIN_SETTLE_MS - 1, run: 'x' }]);
    s.add([Object.assign(fsEvent('src/a'), { [QUIET_BEFORE]: 50 })]);
    clock.advance(CREDIT_MIN_SETTLE_MS - 2);
    assert.equal(batches.length, 0);
    clock.advance(1);
    assert.equal(batches.length, 1);
  });

  test('live events are never looked up in the stored batches (they were stored a moment ago)', () => {
    const asked: number[] = [];
    const { clock, batches, s } = setup([{ name: 't', on: { fs: ['**'] }, run: 'x' }], {
      alreadyBatched: (id) => {
        asked.push(id);
        return true;
      },
    });
    const e = fsEvent('a');
    s.add([e]);
    clock.advance(5000);
    assert.deepEqual(asked, []);
    assert.deepEqual(batches[0]?.eventIds, [e.id]);
  });

  test('a path with a line break in its name matches globs like any other', () => {
    const { clock, batches, s } = setup([{ name: 't', on: { fs: ['src/**'] }, run: 'true' }]);
    s.add([fsEvent('src/line\nbreak.ts'), fsEvent('src/a\n/b.ts'), fsEvent('other\nsrc/c.ts')]);
    clock.advance(2000);
    assert.deepEqual(batches[0]?.paths, ['src/a\n/b.ts', 'src/line\nbreak.ts']);
  });

  test('a disabled trigger never fires', () => {
    const { clock, batches, s } = setup([{ name: 't', on: { fs: ['**'] }, run: 'x', enabled: false }]);
    s.add([fsEvent('a')]);
    clock.advance(5000);
    assert.equal(batches.length, 0);
  });
});
