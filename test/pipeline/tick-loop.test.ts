import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Decision, TickItem } from '../../src/pipeline/decide.js';
import { TickLoop } from '../../src/pipeline/tick-loop.js';

const item = (over: Partial<TickItem>): TickItem => ({
  repo: '/r/app',
  source: 'ambient',
  eventIds: [1],
  paths: ['a.ts'],
  eventTypes: ['file.changed'],
  contentHash: 'h',
  urgency: 'later',
  at: 0,
  ...over,
});

function decision(i: TickItem, outcome: Decision['outcome']): Decision {
  return { id: 0, repo: i.repo, at: 0, stage: 'heuristic', outcome, why: '', costMicro: 0, contentHash: i.contentHash, mode: 'active', tickBudgetMs: 15_000 };
}

describe('TickLoop', () => {
  let mode: 'active' | 'away';
  let seen: string[];
  let loop: TickLoop;
  before(() => {
    mode = 'active';
    seen = [];
    loop = new TickLoop({
      // Stands in for decide(): defers routine items while active, like the real heuristics.
      decide: async (i) => decision(i, mode === 'active' && i.urgency === 'later' ? 'later' : 'sleep'),
      onDecision: (d, i) => void seen.push(`${d.outcome}:${i.source}:${i.eventIds.join('+')}`),
    });
  });
  after(() => loop.idle());

  test('deferred items are parked, merged per repository, and decided only when the user steps away', async () => {
    loop.offer(item({ eventIds: [1] }));
    loop.offer(item({ eventIds: [2], paths: ['b.ts'] }));
    loop.offer(item({ eventIds: [3], repo: '/r/other' }));
    await loop.idle();
    assert.deepEqual(seen, ['later:ambient:1', 'later:ambient:2', 'later:ambient:3']);
    assert.equal(loop.parked(), 2, 'the two items of /r/app are one parked item');
    loop.offer(item({ source: 'poke', eventIds: [9], urgency: 'now' }));
    await loop.idle();
    assert.equal(seen.at(-1), 'sleep:poke:9');
    assert.equal(loop.parked(), 2, 'a decision on something else does not wake parked work');
    mode = 'away';
    assert.equal(loop.wake(), 2);
    await loop.idle();
    assert.deepEqual(seen.slice(-2), ['sleep:ambient:1+2', 'sleep:ambient:3']);
    assert.equal(loop.parked(), 0);
  });
});

describe('TickLoop with a tick budget', () => {
  test('an item that outlives the budget goes on in the background; the loop takes the next one', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: string[] = [];
    const late: string[] = [];
    const loop = new TickLoop({
      decide: async (i) => {
        if (i.eventIds[0] === 1) await gate;
        return decision(i, 'sleep');
      },
      onDecision: (_d, i) => void seen.push(String(i.eventIds[0])),
      budgetMs: () => 1,
      onLate: (i, r) => late.push(`${i.eventIds[0]}:${r.ok}`),
    });
    loop.offer(item({ eventIds: [1], urgency: 'next' }));
    loop.offer(item({ eventIds: [2], repo: '/r/other', urgency: 'next' }));
    await loop.idle();
    assert.deepEqual(seen, ['2'], 'the slow item did not block the next');
    assert.deepEqual(late, []);
    release();
    await gate;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, ['2', '1']);
    assert.deepEqual(late, ['1:true']);
  });
});
