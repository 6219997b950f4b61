import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { createModelClient, type ModelClientOptions } from '../../src/model/client.js';
import { modelLadder } from '../../src/model/model-ladder.js';
import { cachedSystem } from '../../src/model/cache.js';
import { costMicro, loadPriceTable, priceFor } from '../../src/model/prices.js';
import { noModelNotice, type LadderStep } from '../../src/model/recovery.js';
import type { Budget, ThresholdCrossing } from '../../src/model/ledger.js';
import { spendReport } from '../../src/model/spend-report.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { ManualClock } from './manual-clock.js';

const OPUS = 'claude-opus-4-7';
const SONNET = 'claude-sonnet-4-6';
const HAIKU = 'claude-haiku-4-5';
const prices = loadPriceTable();

let dir: string;
let fake: FakeAnthropic;
let db: Db;
let n = 0;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-model-client-'));
  fake = await startFakeAnthropic();
});
after(async () => {
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  fake.reset();
  db = openDb(path.join(dir, `k${++n}.db`));
});

function client(clock: ManualClock, extra: Partial<ModelClientOptions> = {}) {
  return createModelClient({
    db,
    budget: { day_usd: 5 },
    models: { act: OPUS, triage: HAIKU },
    apiKey: 'sk-test-key',
    baseURL: fake.url,
    prices,
    clock: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    ...extra,
  });
}

const rows = () =>
  db.prepare('SELECT * FROM spend_reservations ORDER BY id').all() as Array<{
    state: string;
    model: string;
    cost_micro: number | null;
    reserved_micro: number;
    input_tokens: number | null;
  }>;

const user = (text: string) => [{ role: 'user' as const, content: text }];

describe('model client against the fake Messages API with the real SDK', () => {
  test('non-streaming call: usage is recorded in exact integer micro-dollars', async () => {
    const c = client(new ManualClock());
    fake.script({
      text: 'hello',
      usage: { input_tokens: 1234, output_tokens: 567, cache_creation_input_tokens: 2000, cache_read_input_tokens: 10000 },
    });
    // A prompt of exactly 13,234 simulated tokens, so count_tokens matches the scripted usage.
    const prompt = 'x'.repeat(4 * (1234 + 2000 + 10000));
    const out = await c.call({ model: SONNET, messages: user(prompt), max_tokens: 1000, purpose: 'user', trigger: 'lint' });
    assert.equal(out.status, 'ok');
    if (out.status !== 'ok') return;
    assert.deepEqual(out.message.content, [{ type: 'text', text: 'hello' }]);
    // 1234*3 + 567*15 + 2000*3.75 + 10000*0.30 µ$ = 3702 + 8505 + 7500 + 3000
    assert.equal(out.costMicro, 22_707);
    const r = rows();
    assert.equal(r.length, 1);
    assert.equal(r[0]!.state, 'settled');
    assert.equal(r[0]!.cost_micro, 22_707);
    assert.ok(r[0]!.reserved_micro >= 22_707);
    const paths = fake.requests.map((q) => q.path);
    assert.deepEqual(paths, ['/v1/messages/count_tokens', '/v1/messages']);
    const h = fake.requests[1]!.headers;
    assert.ok(h['x-api-key'] === 'sk-test-key' || h.authorization === 'Bearer sk-test-key', 'the key the daemon passed is used');
    assert.equal(fake.requests[1]!.body.stream, undefined);
  });

  test('streaming call assembles text and tool_use from SSE and settles the streamed usage', async () => {
    const c = client(new ManualClock());
    fake.script({
      content: [
        { type: 'text', text: 'I will read the file now, then decide.' },
        { type: 'tool_use', id: 'toolu_1', name: 'read_file', input: { path: 'src/a.ts', lines: [1, 20] } },
      ],
    });
    const out = await c.call({ model: SONNET, messages: user('look at src/a.ts'), max_tokens: 500, stream: true, purpose: 'user' });
    assert.equal(out.status, 'ok');
    if (out.status !== 'ok') return;
    assert.equal(fake.messageRequests()[0]!.body.stream, true);
    const text = out.message.content[0]!;
    assert.equal(text.type === 'text' && text.text, 'I will read the file now, then decide.');
    const tool = out.message.content[1]!;
    assert.equal(tool.type, 'tool_use');
    if (tool.type === 'tool_use') assert.deepEqual(tool.input, { path: 'src/a.ts', lines: [1, 20] });
    assert.equal(out.message.stop_reason, 'tool_use');
    assert.ok(out.message.usage.output_tokens > 1, 'usage from message_delta, not message_start');
    assert.equal(out.costMicro, costMicro(priceFor(prices, SONNET).rates, out.message.usage));
    assert.equal(rows()[0]!.cost_micro, out.costMicro);
  });

  test('tool_use round trip: the tool_result goes back and the final answer comes out', async () => {
    const c = client(new ManualClock());
    fake.script(
      { content: [{ type: 'tool_use', id: 'toolu_abc', name: 'run_tests', input: { filter: 'parser' } }] },
      { text: 'All 12 parser tests pass.' },
    );
    const tools = [{ name: 'run_tests', description: 'Runs the test suite', input_schema: { type: 'object' as const, properties: { filter: { type: 'string' } } } }];
    const first = await c.call({ model: SONNET, messages: user('are the parser tests green?'), tools, max_tokens: 300, purpose: 'user' });
    assert.equal(first.status, 'ok');
    if (first.status !== 'ok') return;
    const use = first.message.content.find((b) => b.type === 'tool_use');
    assert.ok(use && use.type === 'tool_use');
    const second = await c.call({
      model: SONNET,
      tools,
      max_tokens: 300,
      purpose: 'user',
      messages: [
        ...user('are the parser tests green?'),
        { role: 'assistant', content: first.message.content as never },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '12 passed' }] },
      ],
    });
    assert.equal(second.status, 'ok');
    if (second.status !== 'ok') return;
    assert.deepEqual(second.message.content, [{ type: 'text', text: 'All 12 parser tests pass.' }]);
    const sent = fake.messageRequests()[1]!.body;
    assert.equal(sent.messages[2].content[0].type, 'tool_result');
    assert.equal(sent.messages[2].content[0].tool_use_id, 'toolu_abc');
    assert.deepEqual(sent.tools[0].name, 'run_tests');
    assert.equal(rows().filter((r) => r.state === 'settled').length, 2);
  });

  test('no API key: every call is skipped with one clear reason, nothing is sent, nothing throws', async () => {
    const c = createModelClient({ db, budget: { day_usd: 1 }, apiKey: undefined, baseURL: fake.url, prices });
    assert.equal(c.modelStepsEnabled, false);
    assert.match(c.disabledReason ?? '', /ANTHROPIC_API_KEY is not set/);
    const out = await c.call({ model: SONNET, messages: user('x'), max_tokens: 10, purpose: 'ambient' });
    assert.equal(out.status, 'skipped');
    if (out.status === 'skipped') assert.equal(out.skipped, 'no-api-key');
    assert.equal(fake.requests.length, 0);
    assert.equal(rows().length, 0);
  });

  test('retry-after is honoured in seconds and as an HTTP date, measured on the injected clock', async () => {
    const clock = new ManualClock(new Date(2026, 10, 24, 10, 0, 0).getTime());
    const c = client(clock);
    const at = new Date(clock.t + 7_000 + 12_000).toUTCString();
    fake.script({ status: 429, retryAfter: 7 }, { status: 529, retryAfter: at }, { text: 'done' });
    // Unattended work may wait 12 s (attended work waits at most 10 s: see the next test).
    const out = await c.call({ model: SONNET, messages: user('x'), max_tokens: 100, origin: 'trigger' });
    assert.equal(out.status, 'ok');
    assert.deepEqual(clock.sleeps, [7_000, 12_000]);
    assert.equal(fake.messageRequests().length, 3);
    // Each attempt had its own reservation; the failed ones were returned (errors are not billed).
    assert.deepEqual(rows().map((r) => r.state), ['released', 'released', 'settled']);
  });

  test('attended work (a poke) does not wait out a long retry-after; unattended work waits longer', async () => {
    const pokeClock = new ManualClock();
    const poke = client(pokeClock);
    fake.script({ status: 429, retryAfter: 12 }, { text: 'too late for the user' });
    const p = await poke.call({ model: SONNET, messages: user('x'), max_tokens: 100, origin: 'poke' });
    assert.equal(p.status, 'failed');
    if (p.status === 'failed') assert.match(p.reason, /asked to wait 12 s; you are waiting \(poke\) waits at most 10 s, so it gave up: try again later/);
    assert.deepEqual(pokeClock.sleeps, [], 'nothing was waited');
    assert.equal(fake.messageRequests().length, 1);

    fake.reset();
    const ambientClock = new ManualClock();
    const ambient = client(ambientClock);
    fake.script({ status: 429, retryAfter: 12 }, { text: 'fine later' });
    assert.equal((await ambient.call({ model: SONNET, messages: user('x'), max_tokens: 100, origin: 'ambient' })).status, 'ok');
    assert.deepEqual(ambientClock.sleeps, [12_000]);
  });

  test('on 529 an ambient call waits longer than a user call; both fall back after 3 in a row', async () => {
    // Before issue 13 an ambient call gave up after two 529s; now every origin steps down the ladder
    // after three consecutive 429/529: here to the policy's triage model.
    const ambientClock = new ManualClock();
    const ambient = client(ambientClock);
    fake.script({ status: 529 }, { status: 529 }, { status: 529 }, { text: 'late' });
    const a = await ambient.call({ model: SONNET, messages: user('x'), max_tokens: 100, purpose: 'ambient' });
    assert.equal(a.status, 'ok');
    if (a.status === 'ok') {
      assert.equal(a.model, HAIKU);
      assert.deepEqual(a.steps.map((s) => [s.fromModel, s.toModel, s.cause]), [[SONNET, HAIKU, 'overloaded']]);
    }
    assert.equal(fake.messageRequests().length, 4);

    fake.reset();
    const userClock = new ManualClock();
    const u = client(userClock);
    fake.script({ status: 529 }, { status: 529 }, { text: 'made it' });
    const b = await u.call({ model: SONNET, messages: user('x'), max_tokens: 100, purpose: 'user' });
    assert.equal(b.status, 'ok');
    assert.equal(fake.messageRequests().length, 3);
    assert.ok(ambientClock.sleeps[0]! > userClock.sleeps[0]! * 4, `ambient ${ambientClock.sleeps.join(',')} vs user ${userClock.sleeps.join(',')}`);
  });

  test('x-should-retry: false stops at once; a dropped connection is retried and charged at worst case', async () => {
    const clock = new ManualClock();
    const c = client(clock);
    fake.script({ status: 500, shouldRetry: false });
    const a = await c.call({ model: SONNET, messages: user('x'), max_tokens: 100, purpose: 'user' });
    assert.equal(a.status, 'failed');
    assert.deepEqual(clock.sleeps, []);

    fake.script({ drop: true }, { text: 'ok after drop' });
    const b = await c.call({ model: SONNET, messages: user('x'), max_tokens: 100, purpose: 'user' });
    assert.equal(b.status, 'ok');
    const r = rows();
    assert.equal(r[1]!.state, 'settled');
    assert.equal(r[1]!.cost_micro, r[1]!.reserved_micro, 'an unknown outcome is charged at its reservation');
  });

  test('ladder: act does not fit, triage does; then nothing fits and the no-model outcome notifies', async () => {
    const steps: LadderStep[] = [];
    const budget: Budget = { day_usd: 0.05 };
    const c = client(new ManualClock(), { budget: () => budget, onLadderStep: (s) => steps.push(s) });
    // Opus worst case for 4000 output tokens is 4000 * $25/MTok = $0.10 > $0.05; Haiku's is $0.02.
    const out = await c.call({ model: OPUS, messages: user('fix the failing test'), max_tokens: 4000, purpose: 'ambient', trigger: 'test' });
    assert.equal(out.status, 'ok');
    if (out.status !== 'ok') return;
    assert.equal(out.model, HAIKU);
    assert.equal(out.steps.length, 1);
    assert.equal(out.steps[0]!.fromModel, OPUS);
    assert.equal(out.steps[0]!.toModel, HAIKU);
    assert.match(out.steps[0]!.reason, /day cap \$0\.05/);
    assert.equal(fake.messageRequests()[0]!.body.model, HAIKU);
    assert.deepEqual(steps, out.steps);

    budget.day_usd = 0.001;
    const none = await c.call({ model: OPUS, messages: user('again'), max_tokens: 4000, purpose: 'ambient', trigger: 'test' });
    assert.equal(none.status, 'skipped');
    if (none.status !== 'skipped') return;
    assert.equal(none.skipped, 'budget');
    assert.deepEqual(none.steps.map((s) => s.toModel), [HAIKU, null]);
    const notice = noModelNotice(none.leftMicro, '2 failing tests in test/parser.test.ts');
    assert.match(notice, /^model steps skipped: budget left \$0\.00\d\d, rules found 2 failing tests/);
    const recorded = db.prepare('SELECT from_model, to_model FROM spend_ladder_steps ORDER BY id').all();
    assert.deepEqual(recorded, [
      { from_model: OPUS, to_model: HAIKU },
      { from_model: OPUS, to_model: HAIKU },
      { from_model: HAIKU, to_model: null },
    ]);
  });

  test('a retry that the budget cannot pay for steps down the ladder', async () => {
    const c = client(new ManualClock(), { budget: { day_usd: 0.15 } });
    // Opus, 4000 max tokens: reserve ≈ $0.10. The drop charges it (outcome unknown), so a second
    // Opus attempt no longer fits $0.15, and the retry goes to Haiku.
    fake.script({ drop: true }, { text: 'fixed' });
    const out = await c.call({ model: OPUS, messages: user('x'), max_tokens: 4000, purpose: 'user' });
    assert.equal(out.status, 'ok');
    if (out.status !== 'ok') return;
    assert.equal(out.model, HAIKU);
    assert.match(out.steps[0]!.reason, /a retry of claude-opus-4-7 does not fit/);
    assert.deepEqual(fake.messageRequests().map((r) => r.body.model), [OPUS, HAIKU]);
  });

  test('a hit cap pauses model work until the cap is raised or the window rolls over', async () => {
    const clock = new ManualClock();
    const budget: Budget = { day_usd: 0.0001 };
    const c = client(clock, { budget: () => budget });
    const first = await c.call({ model: HAIKU, messages: user('x'), max_tokens: 1000, purpose: 'ambient' });
    assert.equal(first.status, 'skipped');
    assert.ok(c.paused());
    assert.match(c.paused()!.reason, /model work paused: day cap/);
    const second = await c.call({ model: HAIKU, messages: user('x'), max_tokens: 10, purpose: 'ambient' });
    assert.equal(second.status, 'skipped');
    if (second.status === 'skipped') assert.equal(second.skipped, 'paused');

    budget.day_usd = 1;
    assert.equal(c.paused(), undefined, 'raising the cap unpauses');
    assert.equal((await c.call({ model: HAIKU, messages: user('x'), max_tokens: 100, purpose: 'ambient' })).status, 'ok');

    budget.day_usd = 0.0001;
    await c.call({ model: HAIKU, messages: user('x'), max_tokens: 1000, purpose: 'ambient' });
    assert.ok(c.paused());
    clock.advance(24 * 3600_000);
    assert.equal(c.paused(), undefined, 'a new day unpauses');
  });

  test('threshold warnings fire once per window at 50 %, 80 % and 100 %', async () => {
    const seen: ThresholdCrossing[] = [];
    const clock = new ManualClock();
    const c = client(clock, { budget: { day_usd: 0.1 }, onThreshold: (x) => seen.push(x) });
    // Each call costs 1000 output tokens of Haiku = $0.005 plus a little input.
    const spec = { text: 'x', usage: { input_tokens: 0, output_tokens: 1000, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } };
    for (let i = 0; i < 12; i++) {
      fake.script(spec);
      await c.call({ model: HAIKU, messages: user('x'), max_tokens: 1000, purpose: 'ambient' });
    }
    // 12 * $0.005 = $0.06: 50 % crossed once.
    assert.deepEqual(seen.map((s) => [s.cap, s.percent]), [['day', 50]]);
    for (let i = 0; i < 6; i++) {
      fake.script(spec);
      await c.call({ model: HAIKU, messages: user('x'), max_tokens: 1000, purpose: 'ambient' });
    }
    assert.deepEqual(seen.map((s) => s.percent), [50, 80]);
    clock.advance(24 * 3600_000);
    for (let i = 0; i < 11; i++) {
      fake.script(spec);
      await c.call({ model: HAIKU, messages: user('x'), max_tokens: 1000, purpose: 'ambient' });
    }
    assert.deepEqual(seen.map((s) => s.percent), [50, 80, 50], 'a new day warns again');
  });

  test('without count_tokens the reservation uses the conservative chars/3 estimate', async () => {
    const noCount = await startFakeAnthropic({ countTokens: false });
    try {
      const c = client(new ManualClock(), { baseURL: noCount.url });
      const long = 'word '.repeat(3000);
      const counted = await c.countInputTokens({ model: SONNET, messages: user(long) });
      assert.equal(counted.source, 'estimate');
      assert.ok(counted.tokens >= long.length / 3);
      const out = await c.call({ model: SONNET, messages: user(long), max_tokens: 100, purpose: 'user' });
      assert.equal(out.status, 'ok');
      const r = rows()[0]!;
      assert.ok(r.reserved_micro >= r.cost_micro!, 'estimate covers the real usage');
    } finally {
      await noCount.close();
    }
  });

  test('stable prefixes carry cache_control and repeated calls read them from cache', async () => {
    const c = client(new ManualClock());
    const system = cachedSystem({
      system: 'You are Kairos, a careful coding assistant. '.repeat(60),
      policySummary: 'Policy: never push; tests must pass. '.repeat(40),
      repoSummary: 'Repo: a TypeScript library with 40 modules. '.repeat(40),
      volatile: 'Now: 10:15',
    });
    assert.deepEqual(system.map((b) => Boolean(b.cache_control)), [true, true, true, false]);
    for (let i = 0; i < 5; i++) {
      const out = await c.call({ model: SONNET, system, messages: user(`change ${i}`), max_tokens: 200, purpose: 'ambient', trigger: 'save' });
      assert.equal(out.status, 'ok');
      if (out.status !== 'ok') continue;
      if (i === 0) assert.ok((out.message.usage.cache_creation_input_tokens ?? 0) > 0);
      else assert.ok((out.message.usage.cache_read_input_tokens ?? 0) > 0);
    }
    const report = spendReport(db, { day_usd: 5 }, Date.now());
    assert.ok(report.cache_read_share > 0.6, `share ${report.cache_read_share}`);
    assert.deepEqual(fake.messageRequests()[0]!.body.system[0].cache_control, { type: 'ephemeral' });
  });
});

test('modelLadder steps from act to triage, and from any other model to triage', () => {
  const models = { act: OPUS, triage: HAIKU };
  assert.deepEqual(modelLadder(OPUS, models), [OPUS, HAIKU]);
  assert.deepEqual(modelLadder(HAIKU, models), [HAIKU]);
  assert.deepEqual(modelLadder(SONNET, models), [SONNET, HAIKU]);
  assert.deepEqual(modelLadder(OPUS, models, false), [OPUS]);
  assert.deepEqual(modelLadder(OPUS, undefined), [OPUS]);
});
