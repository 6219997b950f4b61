import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { openDb } from '../../src/store/db.js';
import { createModelClient } from '../../src/model/client.js';
import { loadPriceTable } from '../../src/model/prices.js';

/**
 * A model call's onSent (src/model/request-sent.ts) fires while its request is in flight, not when
 * the answer is back: an agent task starts its git processes there, after the first request has
 * left and while the model answers. The real SDK talks to a server that holds its answer until
 * onSent has fired, so a callback that came only with the answer would leave the call hanging and
 * the test failing on its timeout.
 */

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-request-sent-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const MESSAGE = {
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-haiku-4-5',
  content: [{ type: 'text', text: 'ok' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 10, output_tokens: 2 },
};

/** A Messages API that answers each request only once `release` resolves (count_tokens is not answered: the call must not need it). */
async function holdingServer(release: () => Promise<void>): Promise<{ url: string; bodies: string[]; paths: string[]; close(): Promise<void> }> {
  const bodies: string[] = [];
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(parts).toString('utf8'));
      paths.push(req.url ?? '');
      if (req.url !== '/v1/messages') {
        res.writeHead(404).end();
        return;
      }
      void release().then(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MESSAGE)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    paths,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function modelClient(url: string, n: number, budget = { task_usd: 5 }) {
  return createModelClient({ db: openDb(path.join(dir, `k${n}.db`)), budget, apiKey: 'sk-ant-test', baseURL: url, prices: loadPriceTable(), sleep: async () => {} });
}

test('onSent fires once while the request is in flight: the server answers only after it', { timeout: 60_000 }, async () => {
  let fired = 0;
  let signal!: () => void;
  const sentSeen = new Promise<void>((r) => (signal = r));
  const server = await holdingServer(() => sentSeen);
  try {
    const model = modelClient(server.url, 1);
    const out = await model.call({
      model: 'claude-haiku-4-5',
      messages: [{ role: 'user', content: 'hello' }],
      max_tokens: 64,
      inputTokensBound: 1000,
      taskId: '1',
      onSent: () => {
        fired++;
        signal();
      },
    });
    assert.equal(out.status, 'ok', out.status === 'ok' ? '' : out.reason);
    assert.equal(fired, 1);
    assert.deepEqual(server.paths, ['/v1/messages'], 'one request: no count_tokens before it');
  } finally {
    await server.close();
  }
});

test('two calls in flight at once: each onSent fires for its own request', { timeout: 60_000 }, async () => {
  const fired: string[] = [];
  const waiters = new Map<string, () => void>();
  const seen = (id: string) => new Promise<void>((r) => waiters.set(id, r));
  const a = seen('a');
  const b = seen('b');
  // The server answers anything only once both have fired: neither callback may wait for an answer.
  const server = await holdingServer(() => Promise.all([a, b]).then(() => {}));
  try {
    const model = modelClient(server.url, 2);
    const call = (id: string) =>
      model.call({
        model: 'claude-haiku-4-5',
        messages: [{ role: 'user', content: `hello ${id}` }],
        max_tokens: 64,
        inputTokensBound: 1000,
        taskId: id === 'a' ? '2' : '3',
        onSent: () => {
          fired.push(id);
          waiters.get(id)!();
        },
      });
    const [ra, rb] = await Promise.all([call('a'), call('b')]);
    assert.equal(ra.status, 'ok');
    assert.equal(rb.status, 'ok');
    assert.deepEqual([...fired].sort(), ['a', 'b']);
  } finally {
    await server.close();
  }
});

test('a call the spend layer refuses sends nothing and never fires onSent', async () => {
  const server = await holdingServer(async () => {});
  try {
    // $0.000001 cannot pay for any call of this size.
    const model = modelClient(server.url, 3, { task_usd: 0.000001 });
    let fired = 0;
    const out = await model.call({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4096, inputTokensBound: 1000, taskId: '4', onSent: () => fired++ });
    assert.equal(out.status, 'skipped');
    assert.equal(fired, 0);
    // Near the cap the client asks count_tokens for the exact size (it refuses anyway): no message is sent.
    assert.equal(server.paths.filter((p) => p === '/v1/messages').length, 0);
  } finally {
    await server.close();
  }
});

test('a request that never reaches a server still fires onSent once, when the call ends', async () => {
  const server = await holdingServer(async () => {});
  const url = server.url;
  await server.close(); // nothing listens there any more
  const model = modelClient(url, 4);
  let fired = 0;
  const out = await model.call({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hello' }], max_tokens: 64, inputTokensBound: 1000, taskId: '5', onSent: () => fired++ });
  assert.equal(out.status, 'failed');
  // Fired in a microtask after the call ended: let it run.
  await new Promise((r) => setImmediate(r));
  assert.equal(fired, 1);
});
