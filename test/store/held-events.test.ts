import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HeldEvents } from '../../src/store/held-events.js';
import type { EventDraft } from '../../src/events/event.js';

const at = '2026-11-27T10:00:00.000Z';
const file = (p: string): EventDraft => ({ type: 'file.changed', repo: '/r', at, origin: 'user', path: p, data: {} }) as EventDraft;
const commit = (sha: string): EventDraft => ({ type: 'git.commit', repo: '/r', at, origin: 'user', data: { sha } }) as EventDraft;
const drain = (h: HeldEvents): EventDraft[] => {
  const out: EventDraft[] = [];
  while (!h.empty) {
    const ws = h.peek(3);
    out.push(...ws.flatMap((w) => w.drafts));
    h.done(ws.length);
  }
  return out;
};

describe('HeldEvents (events waiting for a full disk)', () => {
  test('keeps arrival order across writes and hands them out in chunks without splitting a write', () => {
    const h = new HeldEvents(100);
    h.push({ drafts: [file('a'), file('b')] });
    h.push({ drafts: [commit('1')], alsoInTransaction: () => undefined });
    h.push({ drafts: [file('c'), file('d'), file('e')] });
    assert.equal(h.count, 6);
    const first = h.peek(3);
    assert.equal(first.length, 2, 'a + b, then the commit; c-e would pass 3');
    assert.ok(first[1]!.alsoInTransaction, 'the git state stays with its events');
    h.done(2);
    assert.equal(h.peek(1).length, 1, 'a write bigger than the chunk still goes whole');
    assert.deepEqual(drain(h).map((d) => ('path' in d ? d.path : d.type)), ['c', 'd', 'e']);
    assert.equal(h.count, 0);
  });

  test('past the bound the oldest file events go, counted; git events are never dropped', () => {
    const h = new HeldEvents(5);
    h.push({ drafts: [commit('1')] });
    for (let i = 0; i < 10; i++) h.push({ drafts: [file(`f${i}`)] });
    h.push({ drafts: [commit('2')] });
    assert.equal(h.count, 5);
    assert.equal(h.dropped, 7);
    const kept = drain(h).map((d) => ('path' in d ? d.path : `commit ${(d.data as { sha: string }).sha}`));
    assert.deepEqual(kept, ['commit 1', 'f7', 'f8', 'f9', 'commit 2'], 'newest file events kept, in order');
    assert.equal(h.resetDropped(), 7);
    assert.equal(h.dropped, 0);
  });

  test('a bound full of git events holds more rather than drop one', () => {
    const h = new HeldEvents(2);
    for (let i = 0; i < 4; i++) h.push({ drafts: [commit(String(i))] });
    assert.equal(h.count, 4);
    assert.equal(h.dropped, 0);
  });

  test('200,000 single-event writes into a bound of 100,000: the newest 100,000 kept', () => {
    const h = new HeldEvents(100_000);
    for (let i = 0; i < 200_000; i++) h.push({ drafts: [file(`f${i}`)] });
    assert.equal(h.count, 100_000);
    assert.equal(h.dropped, 100_000);
    const first = h.peek(1)[0]!.drafts[0]!;
    assert.equal('path' in first && first.path, 'f100000');
  });
});
