import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { openDb } from '../../src/store/db.js';
import { createModelClient, DEFAULT_MIN_TOKENS } from '../../src/model/client.js';
import { capsMicro, ORIGINS, windowKeys, type Budget, type Origin } from '../../src/model/ledger.js';
import { costMicro, loadPriceTable, priceFor } from '../../src/model/prices.js';
import { TRIAGE_MAX_TOKENS } from '../../src/pipeline/triage.js';
import { startFakeAnthropic, type FakeAnthropic, type Reply } from '../support/fake-anthropic.js';

/**
 * Tiny caps still make calls and never overshoot (issue 13), as a fast-check property: 1,000
 * seeded scenarios of triage calls and act turns under caps as small as task_usd 0.005, through
 * the real SDK against the in-process fake Messages API, whose successful replies bill their FULL
 * max_tokens. Every attempt may meet a fault: 429 / 529 (with and without retry-after), 5xx,
 * x-should-retry: false, a connection dropped before the answer or mid-stream, a malformed body, a
 * reply slower than the client's timeout. A failure prints its seed and the shrunk scenario;
 * KAIROS_PROPERTY_SEED replays a run (see runLane).
 *
 * After every scenario: the ledger's spend + open reservations stay under every cap, so does what
 * the API billed (per task and per window), the ledger never counts less than the API billed,
 * every request's max_tokens lies between the call's floor and what it asked, and a first call
 * whose floor fits the fresh caps is made.
 */

const RUNS = Number(process.env.KAIROS_PROPERTY_RUNS ?? 1_000);
const SEED = Number(process.env.KAIROS_PROPERTY_SEED ?? 20261127);
const SONNET = 'claude-sonnet-4-6';
const HAIKU = 'claude-haiku-4-5';
// Long enough that a reply meant to arrive in time still does on a loaded CI machine (at 600 ms a
// busy machine turned ordinary replies into time-outs, so a scenario met faults it did not draw).
const CLIENT_TIMEOUT_MS = 3_000;
const prices = loadPriceTable();

type Fault =
  | { kind: 'ok' }
  | { kind: 'short'; outputTokens: number }
  | { kind: 'status'; status: 429 | 529 | 500 | 502 | 503; retryAfter: number | null; shouldRetry: boolean | null }
  | { kind: 'drop' | 'mid-stream' | 'malformed' | 'timeout' };

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  { weight: 20, arbitrary: fc.constant({ kind: 'ok' as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('short' as const), outputTokens: fc.integer({ min: 1, max: 300 }) }) },
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant('status' as const),
      status: fc.constantFrom(429 as const, 529 as const, 529 as const, 500 as const, 502 as const, 503 as const),
      retryAfter: fc.option(fc.integer({ min: 0, max: 40 })),
      shouldRetry: fc.option(fc.boolean(), { freq: 6 }),
    }),
  },
  { weight: 4, arbitrary: fc.constantFrom({ kind: 'drop' as const }, { kind: 'mid-stream' as const }, { kind: 'malformed' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'timeout' as const }) },
);

interface CallSpec {
  role: 'triage' | 'act';
  model: string;
  origin: Origin;
  promptTokens: number;
  task: string | null;
  stream: boolean;
  /** Starts together with the previous call instead of after it. */
  concurrent: boolean;
  /** Its first attempts meet a run of 429/529 this long (0: none) before `faults`. */
  storm: number;
  faults: Fault[];
}

const callArb: fc.Arbitrary<CallSpec> = fc.record({
  role: fc.constantFrom('triage' as const, 'act' as const),
  model: fc.constantFrom(HAIKU, SONNET),
  origin: fc.constantFrom(...ORIGINS),
  promptTokens: fc.integer({ min: 5, max: 1_500 }),
  task: fc.constantFrom('T', 'T', 'U', null),
  stream: fc.boolean(),
  concurrent: fc.boolean(),
  storm: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 4 }) }),
  faults: fc.array(faultArb, { maxLength: 5 }),
});

const scenarioArb = fc.record({
  budget: fc.record(
    {
      task_usd: fc.constantFrom(0.005, 0.003, 0.008, 0.02),
      hour_usd: fc.constantFrom(0.006, 0.012, 0.03),
      day_usd: fc.constantFrom(0.01, 0.05),
      act_min_tokens: fc.constantFrom(256, 512, 1024),
    },
    { requiredKeys: ['task_usd'] },
  ),
  calls: fc.array(callArb, { minLength: 1, maxLength: 4 }),
});

function toReply(f: Fault): Reply {
  switch (f.kind) {
    case 'ok':
      return { text: 'done' };
    case 'short':
      return { text: 'done', billMaxTokens: false, usage: { output_tokens: f.outputTokens } };
    case 'status':
      return { status: f.status, ...(f.retryAfter !== null ? { retryAfter: f.retryAfter } : {}), ...(f.shouldRetry !== null ? { shouldRetry: f.shouldRetry } : {}) };
    case 'drop':
      return { drop: true };
    case 'mid-stream':
      return { drop: 'mid-stream' };
    case 'malformed':
      return { malformed: true };
    case 'timeout':
      return { delayMs: CLIENT_TIMEOUT_MS + 100, then: { text: 'too late' } };
  }
}

/** Scenarios run in this many lanes at once, each with its own fake server and seed: the runs wait on HTTP, not the CPU. */
const LANES = 4;
const fakes: FakeAnthropic[] = [];
before(async () => {
  for (let i = 0; i < LANES; i++) fakes.push(await startFakeAnthropic({ billMaxTokens: true }));
});
after(() => Promise.all(fakes.map((f) => f.close())));

type Stats = { calls: number; ok: number; skipped: number; failed: number; lowered: number; fallbacks: number; faults: number; firstCallChecked: number };

test(`tiny caps still make calls and never overshoot: ${RUNS} seeded faulted scenarios (fast-check)`, async (t) => {
  const stats: Stats = { calls: 0, ok: 0, skipped: 0, failed: 0, lowered: 0, fallbacks: 0, faults: 0, firstCallChecked: 0 };
  const started = Date.now();
  const per = Math.ceil(RUNS / LANES);
  // Lane i replays alone with KAIROS_PROPERTY_SEED=<its seed> KAIROS_PROPERTY_RUNS=<per> (it is then lane 0).
  await Promise.all(fakes.map((fake, i) => runLane(fake, SEED + i, i === LANES - 1 ? RUNS - per * (LANES - 1) : per, stats)));
  t.diagnostic(`seeds ${SEED}..${SEED + LANES - 1}, ${RUNS} scenarios in ${Date.now() - started} ms: ${JSON.stringify(stats)}`);
  // The property only means something if every path was taken (shares of the 1,000-run default).
  if (RUNS >= 1_000) {
    assert.ok(stats.ok > stats.calls * 0.4, `calls made: ${JSON.stringify(stats)}`);
    assert.ok(stats.lowered > 200, `max_tokens lowered: ${stats.lowered}`);
    assert.ok(stats.skipped > 50 && stats.failed > 50, `refusals and failures: ${JSON.stringify(stats)}`);
    assert.ok(stats.fallbacks > 10, `fallbacks after overload: ${stats.fallbacks}`);
    assert.ok(stats.firstCallChecked > 150, `first calls checked: ${stats.firstCallChecked}`);
  }
});

async function runLane(fake: FakeAnthropic, seed: number, runs: number, stats: Stats): Promise<void> {
  // Requests carry their call's index in the system prompt, so each call meets its own faults in
  // order however the concurrent calls interleave.
  let current: { trial: number; specs: CallSpec[]; attempts: number[] } = { trial: 0, specs: [], attempts: [] };
  // On a loaded machine a request the client already timed out on can reach the server during the
  // next scenario: it is answered 400 (not billed) and left out of that scenario's checks.
  const mine = (system: unknown): number | undefined => {
    const m = /trial#(\d+) call#(\d+)/.exec(JSON.stringify(system ?? ''));
    return m && Number(m[1]) === current.trial ? Number(m[2]) : undefined;
  };
  fake.setFallback((req): Reply => {
    const i = mine(req.body?.system);
    const spec = i === undefined ? undefined : current.specs[i];
    if (i === undefined || !spec) return { status: 400, message: 'a request of an earlier scenario' };
    const n = current.attempts[i]!++;
    const storm: Fault = { kind: 'status', status: n % 2 ? 429 : 529, retryAfter: null, shouldRetry: null };
    const f = n < spec.storm ? storm : (spec.faults[n - spec.storm] ?? { kind: 'ok' });
    if (f.kind !== 'ok' && f.kind !== 'short') stats.faults++;
    return toReply(f);
  });

  const property = fc.asyncProperty(scenarioArb, async ({ budget, calls }) => {
    fake.reset();
    current = { trial: current.trial + 1, specs: calls, attempts: calls.map(() => 0) };
    const trial = current.trial;
    const db = openDb(':memory:');
    const now = new Date(2026, 10, 27, 10, 5, 0).getTime();
    try {
      const client = createModelClient({
        db,
        budget: budget as Budget,
        models: { act: SONNET, triage: HAIKU },
        apiKey: 'sk-property',
        baseURL: fake.url,
        prices,
        // Waits are not slept and the clock stands still: every request lands in the window it was reserved in.
        clock: () => now,
        sleep: async () => undefined,
        timeoutMs: CLIENT_TIMEOUT_MS,
      });
      const caps = capsMicro(budget as Budget);
      const requestFor = (c: CallSpec, i: number) => {
        const floor = c.role === 'triage' ? DEFAULT_MIN_TOKENS.triage : budget.act_min_tokens ?? DEFAULT_MIN_TOKENS.act;
        const max = c.role === 'triage' ? TRIAGE_MAX_TOKENS : 4096;
        return {
          model: c.role === 'triage' ? HAIKU : c.model,
          system: `trial#${trial} call#${i}`,
          messages: [{ role: 'user' as const, content: 'q'.repeat(c.promptTokens * 4) }],
          max_tokens: max,
          minTokens: Math.min(floor, max),
          stream: c.stream,
          origin: c.origin,
          ladder: c.role === 'act',
          ...(c.task ? { taskId: c.task } : {}),
        };
      };

      // Liveness: the first call, alone, when its first reply is good and its floor fits the fresh caps.
      const first = calls[0]!;
      const firstReq = requestFor(first, 0);
      const firstAlone = !calls[1]?.concurrent && first.storm === 0 && (first.faults[0]?.kind ?? 'ok') === 'ok';
      // What the fake's count_tokens answers: ~4 characters a token per block (system, then the prompt).
      const tokens = Math.ceil(firstReq.system.length / 4) + first.promptTokens;
      const floorCost = client.ledger.quote(firstReq.model, tokens, firstReq.minTokens);
      const fitsFresh = Object.values(caps).every((cap) => floorCost <= cap);

      // Run: sequential groups; a call marked concurrent joins the previous group.
      const groups: number[][] = [];
      calls.forEach((c, i) => (c.concurrent && groups.length ? groups.at(-1)!.push(i) : groups.push([i])));
      const outcomes: Array<Awaited<ReturnType<typeof client.call>>> = [];
      for (const g of groups) {
        const outs = await Promise.all(g.map((i) => client.call(requestFor(calls[i]!, i))));
        g.forEach((i, k) => (outcomes[i] = outs[k]!));
      }
      stats.calls += outcomes.length;
      for (const o of outcomes) {
        stats[o.status]++;
        if (o.status === 'ok' || o.status === 'failed' || o.status === 'skipped') stats.fallbacks += o.steps.filter((s) => s.cause === 'overloaded').length;
      }
      // A reply the client gave up on (timeout) is still generated and billed when its delay ends.
      await fake.delayedDone();
      if (firstAlone && fitsFresh) {
        stats.firstCallChecked++;
        // On a loaded machine a good reply may still outlast the client's timeout: the only excuse.
        const o = outcomes[0]!;
        const firstError = o.status === 'skipped' ? undefined : o.attempts[0]?.error;
        const slow = firstError?.kind === 'connection' && /timed? ?out/i.test(firstError.message);
        if (!slow) assert.equal(o.status, 'ok', `a first call whose floor (${floorCost} µ$) fits the caps was not made: ${JSON.stringify(o)}`);
      }

      // 1. The ledger: spend + open reservations under every cap, nothing left open.
      const open = db.prepare(`SELECT COUNT(*) AS n FROM spend_reservations WHERE state = 'open'`).get() as { n: number };
      assert.equal(open.n, 0, 'every reservation was settled or released');
      const counted = (where: string, ...args: unknown[]) =>
        (db.prepare(`SELECT COALESCE(SUM(cost_micro), 0) AS s FROM spend_reservations WHERE state != 'released' AND ${where}`).get(...args) as { s: number }).s;
      const keys = windowKeys(now);
      for (const task of ['T', 'U']) assert.ok(counted('task_id = ?', task) <= caps.task!, `task ${task}: ${counted('task_id = ?', task)} > ${caps.task}`);
      const oneCallTasks = db.prepare(`SELECT cost_micro FROM spend_reservations WHERE task_id IS NULL AND state != 'released'`).all() as Array<{ cost_micro: number }>;
      for (const r of oneCallTasks) assert.ok(r.cost_micro <= caps.task!, 'a call without a task is a task of its own');
      if (caps.hour !== undefined) assert.ok(counted('hour_key = ?', keys.hour) <= caps.hour, 'hour cap');
      if (caps.day !== undefined) assert.ok(counted('day_key = ?', keys.day) <= caps.day, 'day cap');

      // 2. What the API billed stays under the caps, and the ledger never counts less.
      const billedBy = new Map<string, number>();
      let billedTotal = 0;
      for (const b of fake.billed) {
        const cost = costMicro(priceFor(prices, b.model).rates, b.usage);
        const i = mine(b.request.body.system);
        if (i === undefined) continue;
        const spec = calls[i]!;
        billedTotal += cost;
        const key = spec.task ?? `one-call:${b.request.body.system}`;
        billedBy.set(key, (billedBy.get(key) ?? 0) + cost);
      }
      for (const [key, billed] of billedBy) {
        if (key.startsWith('one-call')) continue; // a task-less call may retry: each attempt is its own one-call task
        assert.ok(billed <= caps.task!, `API billed ${billed} µ$ for task ${key} > cap ${caps.task}`);
      }
      for (const cap of [caps.hour, caps.day]) if (cap !== undefined) assert.ok(billedTotal <= cap, `API billed ${billedTotal} µ$ > cap ${cap}`);
      assert.ok(counted('1 = 1') >= billedTotal, `ledger ${counted('1 = 1')} µ$ < billed ${billedTotal} µ$`);

      // 3. Every request's max_tokens between its call's floor and what it asked for.
      for (const r of fake.messageRequests()) {
        const i = mine(r.body.system);
        if (i === undefined) continue;
        const spec = requestFor(calls[i]!, i);
        assert.ok(r.body.max_tokens >= spec.minTokens && r.body.max_tokens <= spec.max_tokens, `max_tokens ${r.body.max_tokens} outside [${spec.minTokens}, ${spec.max_tokens}]`);
        if (r.body.max_tokens < spec.max_tokens) stats.lowered++;
      }
    } finally {
      db.close();
    }
  });

  await fc.assert(property, { numRuns: runs, seed });
}
