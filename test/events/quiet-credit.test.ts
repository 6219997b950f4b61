import { test } from 'node:test';
import assert from 'node:assert/strict';
import { creditDrafts, noteParcelDelivery, PARCEL_QUIET_MS, QUIET_BEFORE, quietBefore } from '../../src/events/quiet-credit.js';
import { EventDraft } from '../../src/events/event.js';

const draft = (p: string): EventDraft => ({ type: 'file.changed', repo: '/r', path: p, at: new Date().toISOString(), origin: 'user', data: {} });

test("parcel's debouncer waited for quiet only before a delivery that came soon after the previous one", () => {
  // The first delivery after a pause comes at once (parcel delivers at once after 500 ms without one).
  assert.equal(noteParcelDelivery(1_000_000), 0);
  assert.equal(noteParcelDelivery(1_000_060), PARCEL_QUIET_MS, '60 ms after the last: it waited 50 ms of quiet');
  assert.equal(noteParcelDelivery(1_000_400), PARCEL_QUIET_MS);
  // 450 ms: inside 500, but the event loop's lag could hide a gap above 500 (an immediate delivery).
  assert.equal(noteParcelDelivery(1_000_850), 0);
  assert.equal(noteParcelDelivery(1_002_000), 0);
});

test('the credit is never more than the newest file change of the batch allows, and none without one', () => {
  const now = 2_000_000;
  const a = [draft('a'), draft('b')];
  creditDrafts(a, PARCEL_QUIET_MS, now - 500, now);
  assert.deepEqual(a.map((x) => quietBefore(x, 1500)), [50, 50], 'files unchanged for 500 ms: the whole 50 ms');
  const b = [draft('a')];
  creditDrafts(b, PARCEL_QUIET_MS, now - 30, now);
  assert.equal(quietBefore(b[0]!, 1500), 20, 'changed 30 ms ago: 30 ms less a clock tick');
  const c = [draft('a')];
  creditDrafts(c, PARCEL_QUIET_MS, now - 5, now);
  assert.equal(quietBefore(c[0]!, 1500), 0, 'changed within a clock tick: nothing');
  const d = [draft('a')];
  creditDrafts(d, PARCEL_QUIET_MS, undefined, now);
  assert.equal(quietBefore(d[0]!, 1500), 0, 'a removal or a listed file: no change time, no credit');
  const e = [draft('a')];
  creditDrafts(e, 0, now - 500, now);
  assert.equal(quietBefore(e[0]!, 1500), 0, 'the watcher did not wait: nothing');
});

test('the credit is carried by the event object in memory only: never serialized, lost by a schema parse', () => {
  const [d] = [draft('a')];
  creditDrafts([d!], PARCEL_QUIET_MS, 0, 10_000);
  assert.equal(quietBefore({ ...d!, id: 1 }, 1500), 50, 'kept by the spread the store makes');
  assert.equal(JSON.stringify(d), JSON.stringify(draft('a')).replace(/"at":"[^"]*"/, `"at":"${d!.at}"`));
  assert.equal(QUIET_BEFORE in JSON.parse(JSON.stringify(d)), false);
  assert.equal(quietBefore(EventDraft.parse(d), 1500), 0, 'an event from outside (ingest parses it) carries none');
});
