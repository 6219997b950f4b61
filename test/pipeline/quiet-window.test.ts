import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuietWindow } from '../../src/pipeline/quiet-window.js';

function collector(ms = 40) {
  const released: Array<[string, number[]]> = [];
  const waiters: Array<() => void> = [];
  const w = new QuietWindow<number>(
    () => ms,
    (key, values) => {
      released.push([key, values]);
      waiters.splice(0).forEach((f) => f());
    },
  );
  const next = () => new Promise<void>((r) => waiters.push(r));
  return { w, released, next };
}

test('values of one key added while it is not quiet are released together, once', async () => {
  const { w, released, next } = collector();
  const done = next();
  w.add('repo', [1]);
  w.add('repo', [2, 3]);
  assert.equal(w.size(), 1);
  await done;
  assert.deepEqual(released, [['repo', [1, 2, 3]]]);
  assert.equal(w.size(), 0);
  const again = next();
  w.add('repo', [4]);
  await again;
  assert.deepEqual(released.at(-1), ['repo', [4]]);
});

test('keys are independent; flush releases at once; clear drops what is held', async () => {
  const { w, released, next } = collector(30);
  w.add('a', [1]);
  w.flush('a');
  assert.deepEqual(released, [['a', [1]]]);
  w.add('b', [2]);
  w.clear();
  // 'c' is added after 'b' with the same window: had 'b' survived the clear, it would come first.
  const c = next();
  w.add('c', [3]);
  await c;
  assert.deepEqual(released, [
    ['a', [1]],
    ['c', [3]],
  ]);
});

test('a key that never goes quiet is still released at its maximum wait, with every value', async () => {
  const released: Array<[string, number[]]> = [];
  let done!: () => void;
  const first = new Promise<void>((r) => (done = r));
  const w = new QuietWindow<number>(
    () => 5000,
    (key, values) => {
      released.push([key, values]);
      done();
    },
    () => 300,
  );
  // A value every 20 ms: the 5 s quiet window never elapses (even with the writer descheduled for
  // seconds); without the 300 ms bound nothing would ever be released and the test would time out.
  const started = Date.now();
  let i = 0;
  const writer = setInterval(() => w.add('repo', [i++]), 20);
  await first;
  clearInterval(writer);
  const heldFor = Date.now() - started;
  w.clear();
  assert.equal(released.length, 1);
  assert.ok(heldFor >= 280 && heldFor < 5000, `released after ${heldFor} ms`);
  assert.deepEqual(released[0]![1], Array.from({ length: released[0]![1].length }, (_, k) => k));
  assert.ok(released[0]![1].length >= 5);
});
