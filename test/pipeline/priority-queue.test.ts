import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { PriorityQueue, SerialConsumer, type Priority } from '../../src/pipeline/priority-queue.js';

interface Item {
  name: string;
  repo?: string;
  n?: number;
}

const drain = (q: PriorityQueue<Item>): string[] => {
  const out: string[] = [];
  for (let x = q.take(); x; x = q.take()) out.push(`${x.priority}:${x.item.name}`);
  return out;
};

describe('PriorityQueue', () => {
  test('now before next before later, first in first out within a priority', () => {
    const q = new PriorityQueue<Item>();
    const pushes: Array<[string, Priority]> = [
      ['a', 'later'],
      ['b', 'next'],
      ['c', 'now'],
      ['d', 'later'],
      ['e', 'next'],
      ['f', 'now'],
    ];
    for (const [name, p] of pushes) q.push({ name }, p);
    assert.equal(q.size(), 6);
    assert.equal(q.peek()?.item.name, 'c');
    assert.deepEqual(drain(q), ['now:c', 'now:f', 'next:b', 'next:e', 'later:a', 'later:d']);
    assert.equal(q.take(), undefined);
  });

  test('items with the same key merge in place; a more urgent push moves the merged item up', () => {
    const q = new PriorityQueue<Item>({
      key: (i) => i.repo,
      merge: (a, b) => ({ ...b, n: (a.n ?? 1) + (b.n ?? 1) }),
    });
    q.push({ name: 'x1', repo: 'x' }, 'later');
    q.push({ name: 'other' }, 'later');
    q.push({ name: 'x2', repo: 'x' }, 'later');
    assert.equal(q.size(), 2, 'the two x items are one');
    q.push({ name: 'y', repo: 'y' }, 'next');
    q.push({ name: 'x3', repo: 'x' }, 'next');
    const all: Array<{ item: Item; priority: Priority }> = [];
    for (let x = q.take(); x; x = q.take()) all.push(x);
    assert.deepEqual(
      all.map((x) => [x.priority, x.item.name, x.item.n ?? 1]),
      [
        ['next', 'y', 1],
        ['next', 'x3', 3],
        ['later', 'other', 1],
      ],
    );
  });

  test('promote moves a whole priority behind the target lane', () => {
    const q = new PriorityQueue<Item>();
    q.push({ name: 'l1' }, 'later');
    q.push({ name: 'l2' }, 'later');
    q.push({ name: 'n1' }, 'next');
    assert.equal(q.promote('later', 'next'), 2);
    assert.deepEqual(drain(q), ['next:n1', 'next:l1', 'next:l2']);
  });
});

describe('SerialConsumer', () => {
  test("a user's request pre-empts queued ambient work, but the running ambient item is not killed", async () => {
    const q = new PriorityQueue<Item>();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const consumer = new SerialConsumer<Item>({
      queue: q,
      handle: async (item, priority) => {
        log.push(`start ${priority}:${item.name}`);
        if (item.name === 'ambient-1') await gate;
        log.push(`end ${item.name}`);
      },
    });
    consumer.offer({ name: 'ambient-1' }, 'later');
    await Promise.resolve();
    assert.equal(consumer.inFlight()?.item.name, 'ambient-1');
    consumer.offer({ name: 'ambient-2' }, 'later');
    consumer.offer({ name: 'commit' }, 'next');
    consumer.offer({ name: 'poke' }, 'now');
    release();
    await consumer.idle();
    assert.deepEqual(log, [
      'start later:ambient-1',
      'end ambient-1',
      'start now:poke',
      'end poke',
      'start next:commit',
      'end commit',
      'start later:ambient-2',
      'end ambient-2',
    ]);
  });

  test('a handler that throws is reported and the loop goes on', async () => {
    const q = new PriorityQueue<Item>();
    const errors: string[] = [];
    const done: string[] = [];
    const consumer = new SerialConsumer<Item>({
      queue: q,
      handle: async (item) => {
        if (item.name === 'bad') throw new Error('boom');
        done.push(item.name);
      },
      onError: (err, item) => errors.push(`${item.name}: ${(err as Error).message}`),
    });
    consumer.offer({ name: 'bad' }, 'now');
    consumer.offer({ name: 'good' }, 'later');
    await consumer.idle();
    assert.deepEqual(errors, ['bad: boom']);
    assert.deepEqual(done, ['good']);
  });
});
