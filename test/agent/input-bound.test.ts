import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type Anthropic from '@anthropic-ai/sdk';
import { openDb } from '../../src/store/db.js';
import { createModelClient } from '../../src/model/client.js';
import { loadPriceTable } from '../../src/model/prices.js';
import { cachedSystem, cachedTools } from '../../src/model/cache.js';
import { toolSpecs } from '../../src/agent/tools/schemas.js';
import { nextInputBound, requestInputBound } from '../../src/agent/input-bound.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';

/**
 * "Never short": the input-token bound a turn is reserved on (no count_tokens round trip) is never
 * below the prompt the API then bills. Random conversations — any Unicode, control characters,
 * secrets the outgoing redaction rewrites, tool calls with random inputs, huge and empty results —
 * go through the real SDK to the fake Messages API; its usage is the previous turn's truth, its
 * count_tokens the next prompt's exact size; and every reservation made on the bound covers the bill.
 */

let fake: FakeAnthropic;
before(async () => {
  fake = await startFakeAnthropic();
});
after(async () => {
  await fake.close();
});

const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 400 }),
  fc.string({ unit: 'binary', maxLength: 400 }),
  fc.string({ maxLength: 3000 }),
  // Secrets the outgoing redaction rewrites (a redacted request may be longer than the original).
  fc.constantFrom('aws AKIAZ7Q3XK5P2M4N6R8T', 'gh ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8', 'k=sk-ant-api03-' + 'x'.repeat(90) + 'AA', 'p=a'),
  fc.constant(''),
);
const json = fc.dictionary(fc.string({ maxLength: 12 }), fc.oneof(text, fc.integer(), fc.boolean()), { maxKeys: 4 });

const turn = fc.record({
  system: fc.string({ unit: 'grapheme', maxLength: 300 }),
  first: text,
  reply: fc.array(fc.oneof(fc.record({ type: fc.constant('text' as const), text }), fc.record({ type: fc.constant('tool_use' as const), name: fc.constantFrom('read_file', 'grep', 'edit_file'), input: json })), { minLength: 1, maxLength: 3 }),
  results: fc.array(text, { minLength: 0, maxLength: 3 }),
  hookText: fc.option(text),
});

/**
 * The most tokens any byte-level tokenizer can make of a request as sent: one per UTF-8 byte of each
 * block, counted the way the fake counts its ~4 characters a token (tools, system, message blocks).
 * The fake reports this as the usage below, so the bound is checked against the worst tokenizer.
 */
function worstCaseTokens(body: any): number {
  const b = (s: string) => Buffer.byteLength(s, 'utf8');
  let n = 0;
  for (const tool of body.tools ?? []) n += b(JSON.stringify(tool));
  if (typeof body.system === 'string') n += b(body.system);
  else for (const s of body.system ?? []) n += b(String(s.text ?? ''));
  for (const m of body.messages ?? []) {
    if (typeof m.content === 'string') n += b(m.content);
    else for (const blk of m.content) n += b(blk.type === 'text' ? String(blk.text ?? '') : JSON.stringify(blk));
  }
  return Math.max(1, n);
}

// 150 generated conversations in the full run; the fast part (KAIROS_PROPERTY_RUNS, scripts/run-tests.mjs) runs fewer.
const RUNS = Math.min(150, Number(process.env.KAIROS_PROPERTY_RUNS ?? 150));

test('the turn bound is never below the billed prompt, and reservations on it never fall short (fast-check, real SDK)', async () => {
  const db = openDb(':memory:');
  const model = createModelClient({ db, budget: { task_usd: 1000, day_usd: 10_000 }, apiKey: 'sk-ant-test', baseURL: fake.url, prices: loadPriceTable(), sleep: async () => {} });
  const tools = cachedTools(toolSpecs('coordinator'));
  let checked = 0;
  await fc.assert(
    fc.asyncProperty(turn, async (t) => {
      fake.reset();
      const reply = t.reply.map((b) => (b.type === 'text' ? { type: 'text' as const, text: b.text || ' ' } : { type: 'tool_use' as const, name: b.name, input: b.input }));
      // Every answer bills the worst case: its prompt at one token a byte, its whole max_tokens.
      const bills: number[] = [];
      fake.setFallback((req) => {
        const worst = worstCaseTokens(req.body);
        bills.push(worst);
        const first = (req.body.messages ?? []).length === 1;
        return { ...(first ? { content: reply, stop_reason: 'tool_use' as const } : { text: 'done' }), billMaxTokens: true, usage: { input_tokens: worst, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } };
      });
      const system = cachedSystem({ system: t.system || 'system' });
      const messages: Anthropic.MessageParam[] = [{ role: 'user', content: t.first || 'go' }];
      // Turn 1, reserved on the whole request's bound.
      const first = await model.call({ model: 'claude-haiku-4-5', system, tools, messages, max_tokens: 512, inputTokensBound: requestInputBound({ system, tools, messages }), taskId: `p${checked}` });
      assert.equal(first.status, 'ok', first.status !== 'ok' ? first.reason : '');
      if (first.status !== 'ok') return;
      assert.ok(first.costMicro <= first.reservedMicro, `turn 1: cost ${first.costMicro} > reserved ${first.reservedMicro}`);
      const sent = messages.length;
      messages.push({ role: 'assistant', content: first.message.content });
      const uses = first.message.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
      const results: Anthropic.ContentBlockParam[] = uses.map((u, i) => ({ type: 'tool_result', tool_use_id: u.id, content: t.results[i] ?? '' }));
      if (t.hookText !== null) results.push({ type: 'text', text: t.hookText || ' ' });
      messages.push({ role: 'user', content: results.length ? results : 'Finish by calling propose (if you changed files) or sleep.' });

      const bound = Math.min(nextInputBound(first.message.usage, messages, sent), requestInputBound({ system, tools, messages }));
      // Turn 2 reserved on that bound and billed at the worst case: the reservation covers the bill.
      const second = await model.call({ model: 'claude-haiku-4-5', system, tools, messages, max_tokens: 512, inputTokensBound: bound, taskId: `p${checked}` });
      assert.equal(second.status, 'ok');
      assert.ok(bound >= bills[1]!, `next-turn bound ${bound} < the worst-case prompt ${bills[1]}`);
      if (second.status === 'ok') assert.ok(second.costMicro <= second.reservedMicro, `turn 2: cost ${second.costMicro} > reserved ${second.reservedMicro}`);
      // Far from every edge, neither turn asked count_tokens: one request per turn.
      assert.deepEqual(fake.requests.map((r) => r.path), ['/v1/messages', '/v1/messages']);
      checked++;
    }),
    { numRuns: RUNS, seed: 20261127 },
  );
  const overruns = db.prepare(`SELECT COUNT(*) AS n FROM spend_reservations WHERE note LIKE 'overrun%'`).get() as { n: number };
  assert.equal(overruns.n, 0);
  assert.equal(checked, RUNS);
  db.close();
});
