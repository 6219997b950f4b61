import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { createModelClient } from '../../src/model/client.js';
import { cachedSystem } from '../../src/model/cache.js';
import { loadPriceTable } from '../../src/model/prices.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';

/**
 * The model client is the last door before the Messages API: whoever builds a request (the agent
 * loop, triage, dream, the compression summariser, code not written yet), what the real SDK puts
 * on the wire is redacted. The fake server records the raw bytes it received.
 */

const GH = 'ghp_Kx7mQ2vL9pR4sT8wY1zB3nC6dF0gH5jAdvRs';
const STRIPE = 'sk_live_51KairosOutgoingFakeStripeKey0';
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

let dir: string;
let fake: FakeAnthropic;
let db: Db;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-outgoing-'));
  fake = await startFakeAnthropic();
  db = openDb(path.join(dir, 'k.db'));
});
after(async () => {
  db.close();
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('every text in a request is redacted on the wire: system, user text, tool results, tool inputs; images are not touched', async () => {
  const client = createModelClient({ db, budget: { day_usd: 5 }, apiKey: 'sk-test-key', baseURL: fake.url, prices: loadPriceTable() });
  fake.script({ text: 'ok', stop_reason: 'end_turn' });
  const out = await client.call({
    model: 'claude-haiku-4-5',
    system: cachedSystem({ system: `You help. The deploy token is ${GH}.` }),
    max_tokens: 100,
    purpose: 'ambient',
    messages: [
      { role: 'user', content: `look at keys/${STRIPE}.txt and DB_PASSWORD=hunter2horse` },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'run_command', input: { command: `curl -H "Authorization: Bearer ${GH}" x` } }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: `export GITHUB_TOKEN=${GH}` }] },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
          { type: 'text', text: `+API_KEY=Zq8vT2mWx9rKp4NdB7sLc3Hf` },
        ],
      },
    ],
  });
  assert.equal(out.status, 'ok', JSON.stringify(out));
  const wire = fake.rawBodies.join('\n');
  for (const s of [GH, STRIPE, 'hunter2horse', 'Zq8vT2mWx9rKp4NdB7sLc3Hf']) assert.ok(!wire.includes(s), `${s} went to the API`);
  assert.match(wire, /keys\/\[REDACTED:stripe-access-token\]\.txt/);
  assert.ok(wire.includes(PNG), 'the image bytes were sent as they are');
  assert.match(wire, /"cache_control":\{"type":"ephemeral"\}/, 'the system block keeps its cache marker');
});
