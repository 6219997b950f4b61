import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeAnthropic, DEFAULT_REPLY, type FakeAnthropic } from '../support/fake-anthropic.js';

let fake: FakeAnthropic;
let sdk: Anthropic;
before(async () => {
  fake = await startFakeAnthropic();
  sdk = new Anthropic({ apiKey: 'k', baseURL: fake.url, maxRetries: 0, logLevel: 'off' });
});
after(() => fake.close());
beforeEach(() => fake.reset());

const msg = (text: string) => ({ model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user' as const, content: text }] });

test('an unscripted call gets the default reply; scripted replies come out in order', async () => {
  const a = await sdk.messages.create(msg('hi'));
  assert.equal(a.content[0]!.type === 'text' && a.content[0]!.text, DEFAULT_REPLY.text);
  fake.script({ text: 'one' }, { text: 'two' });
  const texts = [];
  for (let i = 0; i < 2; i++) {
    const m = await sdk.messages.create(msg('x'));
    texts.push(m.content[0]!.type === 'text' ? m.content[0]!.text : '');
  }
  assert.deepEqual(texts, ['one', 'two']);
  assert.equal(fake.pending(), 0);
  assert.equal(fake.rawBodies.length, 3);
  assert.equal(JSON.parse(fake.rawBodies[0]!).messages[0].content, 'hi');
});

test('the prompt cache: first call writes the cached prefix, the next reads it, count_tokens matches the total', async () => {
  const system = [{ type: 'text' as const, text: 's'.repeat(4000), cache_control: { type: 'ephemeral' as const } }];
  const req = { ...msg('q'.repeat(400)), system };
  const first = await sdk.messages.create(req);
  assert.deepEqual([first.usage.input_tokens, first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens], [100, 1000, 0]);
  const second = await sdk.messages.create(req);
  assert.deepEqual([second.usage.input_tokens, second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens], [100, 0, 1000]);
  const other = await sdk.messages.create({ ...req, model: 'claude-sonnet-4-6' });
  assert.equal(other.usage.cache_read_input_tokens, 0, 'the cache is per model');
  assert.equal((await sdk.messages.countTokens(req)).input_tokens, 1100);
});

test('output never exceeds max_tokens: the reply is cut with stop_reason max_tokens', async () => {
  fake.script({ text: 'long', usage: { output_tokens: 500 } });
  const m = await sdk.messages.create(msg('x'));
  assert.equal(m.usage.output_tokens, 50);
  assert.equal(m.stop_reason, 'max_tokens');
});

test('faults reach the SDK as the errors the real API produces', async () => {
  fake.script({ status: 429, retryAfter: 3 }, { status: 529, shouldRetry: false }, { drop: true }, { malformed: true }, { delayMs: 30, then: { text: 'slow' } });
  const err = async () => sdk.messages.create(msg('x')).then(() => undefined, (e: unknown) => e);
  const e429 = (await err()) as InstanceType<typeof Anthropic.APIError>;
  assert.equal(e429.status, 429);
  assert.equal(e429.headers?.get('retry-after'), '3');
  const e529 = (await err()) as InstanceType<typeof Anthropic.APIError>;
  assert.equal(e529.status, 529);
  assert.equal(e529.headers?.get('x-should-retry'), 'false');
  assert.ok((await err()) instanceof Anthropic.APIConnectionError);
  assert.ok((await err()) instanceof SyntaxError);
  const slow = await sdk.messages.create(msg('x'));
  assert.equal(slow.content[0]!.type === 'text' && slow.content[0]!.text, 'slow');
});

test('SSE stream: events in the real order and a dropped stream is a connection error', async () => {
  fake.script({ content: [{ type: 'text', text: 'abcdef' }, { type: 'tool_use', id: 't1', name: 'grep', input: { q: 'x' } }] });
  const events: string[] = [];
  const stream = sdk.messages.stream(msg('x'));
  stream.on('streamEvent', (e) => events.push(e.type));
  const final = await stream.finalMessage();
  assert.deepEqual([...new Set(events)], ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
  assert.deepEqual(final.content[1], { type: 'tool_use', id: 't1', name: 'grep', input: { q: 'x' } });
  fake.script({ drop: 'mid-stream' });
  await assert.rejects(sdk.messages.stream(msg('x')).finalMessage());
  assert.equal(fake.billed.length, 2, 'a stream dropped after message_start is still billed');
});

test('without count_tokens support the endpoint answers 404', async () => {
  const bare = await startFakeAnthropic({ countTokens: false });
  try {
    const c = new Anthropic({ apiKey: 'k', baseURL: bare.url, maxRetries: 0 });
    await assert.rejects(c.messages.countTokens(msg('x')), (e: unknown) => e instanceof Anthropic.NotFoundError);
  } finally {
    await bare.close();
  }
});
