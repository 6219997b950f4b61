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
