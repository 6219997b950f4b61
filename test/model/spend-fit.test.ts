import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { openDb, type Db } from '../../src/store/db.js';
import { createModelClient, DEFAULT_MIN_TOKENS, type ModelClientOptions } from '../../src/model/client.js';
import type { ThresholdCrossing } from '../../src/model/ledger.js';
import { formatUsdPair, loadPriceTable } from '../../src/model/prices.js';
import type { LadderStep } from '../../src/model/recovery.js';
import { formatSpendReport, spendReport, thresholdMessage } from '../../src/model/spend-report.js';
import { TRIAGE_MAX_TOKENS } from '../../src/pipeline/triage.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { ManualClock } from './manual-clock.js';

/**
 * Fitting the call to the money (issue 13): through the real SDK against the fake Messages API,
 * whose replies here bill their FULL max_tokens, so every reservation is tested at its worst case.
 */

const SONNET = 'claude-sonnet-4-6';
const HAIKU = 'claude-haiku-4-5';
const prices = loadPriceTable();

let fake: FakeAnthropic;
let db: Db;
before(async () => {
  fake = await startFakeAnthropic({ billMaxTokens: true });
});
after(() => fake.close());
beforeEach(() => {
  fake.reset();
  db = openDb(':memory:');
});

function client(clock: ManualClock, extra: Partial<ModelClientOptions> = {}) {
  return createModelClient({
    db,
    budget: { day_usd: 5 },
    models: { act: SONNET, triage: HAIKU },
    apiKey: 'sk-test-key',
    baseURL: fake.url,
    prices,
    clock: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    ...extra,
  });
}

/** A prompt of about `tokens` simulated tokens (the fake counts ~4 characters a token). */
const prompt = (tokens: number) => [{ role: 'user' as const, content: 'p'.repeat(tokens * 4) }];
const committed = () => (db.prepare(`SELECT COALESCE(SUM(cost_micro), 0) AS s FROM spend_reservations WHERE state != 'released'`).get() as { s: number }).s;

describe('max_tokens is fitted to what the caps leave', () => {
  test('task_usd 0.005: a triage call and an act turn (floor 512) are still made, and billing all of max_tokens never passes the cap', async () => {
    const budget = { task_usd: 0.005, act_min_tokens: 512 };
    const c = client(new ManualClock(), { budget });
    // Triage: 300 output tokens fit whole under $0.005 after a 500-token prompt.
    const t = await c.call({ model: HAIKU, messages: prompt(500), max_tokens: TRIAGE_MAX_TOKENS, minTokens: DEFAULT_MIN_TOKENS.triage, origin: 'ambient', ladder: false });
    assert.equal(t.status, 'ok', t.status !== 'ok' ? t.reason : '');
    // An act turn asks for 4,096 (about $0.02 on Haiku): sent with what fits instead of refused.
    const a = await c.call({ model: HAIKU, messages: prompt(500), max_tokens: 4096, minTokens: budget.act_min_tokens, origin: 'trigger', taskId: 'T' });
    assert.equal(a.status, 'ok', a.status !== 'ok' ? a.reason : '');
    if (a.status !== 'ok') return;
    // 5,000 µ$ - 500 tokens × 1.25 µ$ (worst input rate) = 4,375 µ$ → 875 output tokens at 5 µ$.
    assert.equal(a.maxTokens, 875);
    const sent = fake.messageRequests().map((r) => r.body.max_tokens);
    assert.deepEqual(sent, [300, 875]);
    assert.equal(a.message.stop_reason, 'max_tokens');
    assert.equal(a.message.usage.output_tokens, 875, 'the fake billed the whole (lowered) max_tokens');
    assert.ok(a.costMicro <= 5_000, `task cost ${a.costMicro} µ$ <= $0.005`);
    const row = db.prepare(`SELECT max_tokens, asked_tokens, origin FROM spend_reservations WHERE task_id = 'T'`).get();
    assert.deepEqual({ ...(row as object) }, { max_tokens: 875, asked_tokens: 4096, origin: 'trigger' });
    assert.equal(spendReport(db, budget, Date.now()).by_origin.trigger?.lowered, 1);
  });

  test('refused only below the floor, and the reason says so', async () => {
    const c = client(new ManualClock(), { budget: { task_usd: 0.01 } });
    const first = await c.call({ model: HAIKU, messages: prompt(1000), max_tokens: 4096, minTokens: 1024, origin: 'trigger', taskId: 'T' });
    assert.equal(first.status, 'ok');
    if (first.status === 'ok') assert.equal(first.maxTokens, 1750, '(10,000 - 1,000 × 1.25) / 5');
    // The fake billed 1,000 input + 1,750 output tokens: 9,750 µ$; 250 µ$ left is below a 1,024-token turn.
    const second = await c.call({ model: HAIKU, messages: prompt(1000), max_tokens: 4096, minTokens: 1024, origin: 'trigger', taskId: 'T' });
    assert.equal(second.status, 'skipped');
    if (second.status === 'skipped') assert.match(second.reason, /task cap \$0\.01 \(T\): .* left, claude-haiku-4-5 needs up to \$0\.0064 even with max_tokens lowered to 1024/);
    assert.equal(fake.messageRequests().length, 1, 'the refused call sent nothing');
    assert.ok(committed() <= 10_000);
  });

  test('threshold lines come when crossed, in order, at the real percentage and amounts', async () => {
    const seen: ThresholdCrossing[] = [];
    const c = client(new ManualClock(), { budget: { day_usd: 0.005 }, onThreshold: (x) => seen.push(x) });
    const outcomes: string[] = [];
    for (let i = 0; i < 7; i++) {
      const o = await c.call({ model: HAIKU, messages: prompt(8), max_tokens: 200, minTokens: 100, origin: 'ambient' });
      outcomes.push(o.status);
    }
    assert.deepEqual(outcomes.slice(0, 5), ['ok', 'ok', 'ok', 'ok', 'ok']);
    assert.equal(outcomes.at(-1), 'skipped');
    assert.deepEqual(seen.map((s) => s.percent), [50, 80, 100], 'the 80 % line before 100 %, each once');
    const text = seen.map(thresholdMessage);
    assert.match(text[0]!, /^spend crossed 50 % of the day cap: \$0\.00\d{4} of \$0\.005000 \(\d\d %, window \d{4}-\d\d-\d\d\)$/);
    assert.match(text[1]!, /^spend crossed 80 % of the day cap: \$0\.00\d{4} of \$0\.005000 \(8\d %/);
    assert.match(text[2]!, /day cap, window .* is used up: \$0\.00\d{4} of \$0\.005000 spent \(9\d %\); the \$0\.0000\d\d left does not pay for the smallest useful call/);
    for (const t of text) assert.doesNotMatch(t, /\$0\.00 of/);
    for (const s of seen) assert.ok(s.spentMicro * 100 >= s.capMicro * (s.percent === 100 ? 0 : s.percent), 'a line is reported only when the spend crossed it');
    assert.ok(committed() <= 5_000, `spent ${committed()} µ$ of 5,000`);
  });

  test('formatUsdPair shows both amounts at one precision that is exact', () => {
    assert.deepEqual(formatUsdPair(4_000, 5_000), ['$0.0040', '$0.0050']);
    assert.deepEqual(formatUsdPair(60_000, 100_000), ['$0.06', '$0.10']);
    assert.deepEqual(formatUsdPair(0, 5_000), ['$0.0000', '$0.0050']);
    assert.deepEqual(formatUsdPair(4_990, 5_000), ['$0.004990', '$0.005000']);
  });
});

describe('recovery by what is left', () => {
  test('after 3 consecutive 529 a task falls back one model (act → triage), and its next call starts there', async () => {
    const steps: Array<{ step: LadderStep; origin: string }> = [];
    const c = client(new ManualClock(), { onLadderStep: (step, call) => steps.push({ step, origin: call.origin }) });
    fake.script({ status: 529 }, { status: 529 }, { status: 529 }, { text: 'from the cheaper model' });
    const a = await c.call({ model: SONNET, messages: prompt(20), max_tokens: 400, origin: 'trigger', taskId: 'T9', trigger: 'lint' });
    assert.equal(a.status, 'ok');
    if (a.status !== 'ok') return;
    assert.equal(a.model, HAIKU);
    assert.deepEqual(fake.messageRequests().map((r) => r.body.model), [SONNET, SONNET, SONNET, HAIKU]);
    assert.deepEqual(steps.map((s) => [s.step.fromModel, s.step.toModel, s.step.cause, s.origin]), [[SONNET, HAIKU, 'overloaded', 'trigger']]);
    assert.match(steps[0]!.step.reason, /3 consecutive HTTP 529 \(overloaded\) from claude-sonnet-4-6/);

    const b = await c.call({ model: SONNET, messages: prompt(20), max_tokens: 400, origin: 'trigger', taskId: 'T9', trigger: 'lint' });
    assert.equal(b.status === 'ok' && b.model, HAIKU, 'the same task does not go back to the overloaded model');
    assert.equal(fake.messageRequests().at(-1)!.body.model, HAIKU);
    const other = await c.call({ model: SONNET, messages: prompt(20), max_tokens: 400, origin: 'trigger', taskId: 'T10' });
    assert.equal(other.status === 'ok' && other.model, SONNET, 'another task starts at the top again');

    // The cheapest rung overloaded too: no model is left for that call.
    fake.script({ status: 429 }, { status: 529 }, { status: 429 });
    const t = await c.call({ model: HAIKU, messages: prompt(20), max_tokens: 300, origin: 'ambient', ladder: false });
    assert.equal(t.status, 'failed');
    if (t.status === 'failed') assert.match(t.reason, /3 consecutive HTTP 429 \(rate limited\) from claude-haiku-4-5; no cheaper model left to fall back to/);

    const rep = spendReport(db, { day_usd: 5 }, Date.now());
    assert.equal(rep.by_origin.trigger?.fallbacks, 1);
    assert.equal(rep.by_origin.trigger?.retries, 2, 'two waits before the fallback');
    assert.equal(rep.by_origin.trigger?.calls, 3);
    assert.equal(rep.by_origin.trigger?.attempts, 6);
    assert.equal(rep.by_origin.ambient?.fallbacks, 1);
    assert.equal(rep.by_origin.ambient?.gave_up, 1);
    const human = formatSpendReport(rep);
    assert.match(human, /by origin \(\d{4}-\d\d\):\n  ambient .* 1 fallback after overload, 1 gave up/);
    assert.match(human, /  trigger +3 calls .*2 retries \([\d.]+ s waited\), 1 fallback after overload/);
    assert.deepEqual(rep.recovery.map((e) => [e.kind, e.origin, e.model]).sort((x, y) => x.join(' ').localeCompare(y.join(' '))), [
      ['fallback', 'ambient', HAIKU],
      ['fallback', 'trigger', SONNET],
      ['gave_up', 'ambient', HAIKU],
    ]);
  });

  test('a 429 that breaks the run of overloads resets the count; 500s do not trigger a fallback', async () => {
    const c = client(new ManualClock());
    fake.script({ status: 529 }, { status: 529 }, { status: 500 }, { status: 529 }, { text: 'ok' });
    const a = await c.call({ model: SONNET, messages: prompt(20), max_tokens: 100, origin: 'dream', taskId: 'D' });
    assert.equal(a.status === 'ok' && a.model, SONNET);
    assert.equal(a.steps.length, 0);
  });

  test('a poke does not wait out a 600 s retry-after: it gives up at once with a clear message (real clock)', async () => {
    const c = client(new ManualClock(), { clock: undefined, sleep: undefined });
    fake.script({ status: 429, retryAfter: 600 });
    const started = Date.now();
    const p = await c.call({ model: SONNET, messages: prompt(20), max_tokens: 100, origin: 'poke', taskId: 'P' });
    const elapsed = Date.now() - started;
    assert.equal(p.status, 'failed');
    if (p.status === 'failed') assert.match(p.reason, /the API asked to wait 600 s; you are waiting \(poke\) waits at most 10 s, so it gave up: try again later/);
    assert.ok(elapsed < 5_000, `answered in ${elapsed} ms`);
    assert.equal(fake.messageRequests().length, 1);
    assert.equal(spendReport(db, { day_usd: 5 }, Date.now()).by_origin.poke?.gave_up, 1);
  });

  test('unattended work never waits past its deadline, nor for a retry the budget would refuse', async () => {
    const clock = new ManualClock();
    const c = client(clock, { budget: { task_usd: 0.01 } });
    fake.script({ status: 529, retryAfter: 90 });
    const late = await c.call({ model: HAIKU, messages: prompt(20), max_tokens: 100, origin: 'trigger', taskId: 'A', deadline: clock.now() + 60_000, ladder: false });
    assert.equal(late.status, 'failed');
    if (late.status === 'failed') assert.match(late.reason, /a retry after 90 s would end past the deadline \(60 s left\)/);
    assert.deepEqual(clock.sleeps, []);

    // A dropped connection is charged at worst case: what is left then pays for no retry, so no wait.
    fake.script({ drop: true });
    const broke = await c.call({ model: HAIKU, messages: prompt(20), max_tokens: 1900, minTokens: 1500, origin: 'ambient', taskId: 'B', ladder: false });
    assert.equal(broke.status, 'skipped');
    if (broke.status === 'skipped') assert.match(broke.reason, /task cap \$0\.01 \(B\)/);
    assert.deepEqual(clock.sleeps, [], 'nothing was waited for a retry that could not be paid');
  });
});
