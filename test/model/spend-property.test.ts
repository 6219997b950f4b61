import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { openDb, type Db } from '../../src/store/db.js';
import { createModelClient, type ModelClient } from '../../src/model/client.js';
import { SpendLedger, capsMicro, windowKeys, type Budget } from '../../src/model/ledger.js';
import { costMicro, loadPriceTable, priceFor } from '../../src/model/prices.js';
import { startFakeAnthropic, type FakeAnthropic, type Reply } from '../support/fake-anthropic.js';
import { ManualClock } from './manual-clock.js';

/**
 * The cap promise, tested the way it breaks in real life, as a fast-check property: 1,000 trials of
 * concurrent calls from two daemon connections on one SQLite file, random prompt and output sizes,
 * ≥ 30 % faulted replies (429/529/500 with and without retry-after, dropped connections, malformed
 * bodies), and crashes between reserve and settle (the connection is closed while the request is at
 * the API, a new one is opened and reconciles). After every trial, for every window of every cap:
 * settled + reconciled + open reservations ≤ cap, to the micro-dollar; after every history, what the
 * API billed stays under every cap and the ledger never counts less.
 *
 * The trials come in histories (one SQLite file each, up to HISTORY trials, the clock moving on
 * between trials so windows fill and roll over). Each history is its own fast-check run with its own
 * seed: a failing one is shrunk (fewer trials, fewer calls, fewer faults, smaller prompts) and
 * printed with that seed, and `KAIROS_PROPERTY_SEED=<seed> KAIROS_PROPERTY_RUNS=1` replays it alone.
 * Every reply a call meets is part of the generated value (its own list, by attempt), so a shrunk
 * history replays the same however its concurrent calls interleave.
 */

const TRIALS = Number(process.env.KAIROS_PROPERTY_RUNS ?? 1_000);
const SEED = Number(process.env.KAIROS_PROPERTY_SEED ?? 20261124);
/** Trials per history at most: long enough for a day to fill towards its cap. */
const HISTORY = 60;
const BUDGET: Budget = { task_usd: 0.04, hour_usd: 0.15, day_usd: 0.7, month_usd: 10 };
const MODELS = ['claude-opus-4-7', 'claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-unknown-9'] as const;

/** What one attempt of a call meets at the API. */
type Answer =
  | { kind: 'ok'; outputPermille: number; delayMs: number }
  | { kind: 'status'; status: 429 | 529 | 500; retryAfter: number | null; shouldRetry: false | null }
  | { kind: 'drop'; midStream: boolean }
  | { kind: 'malformed' };

/** `arb` in `percent` of draws, null otherwise (shrinks towards null). */
const sometimes = <T>(percent: number, arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: 100 - percent, arbitrary: fc.constant(null) }, { weight: percent, arbitrary: arb });

// The shares of the hand-rolled generator this replaces: 35 % faults, 10 % of good replies slow.
const answerArb: fc.Arbitrary<Answer> = fc.oneof(
  {
    weight: 65,
    arbitrary: fc.record({
      kind: fc.constant('ok' as const),
      // Output anywhere up to (and sometimes beyond, which the API clamps) max_tokens.
      outputPermille: fc.integer({ min: 0, max: 1_200 }),
      delayMs: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
    }),
  },
  {
    weight: 10,
    arbitrary: fc.record({ kind: fc.constant('status' as const), status: fc.constant(429 as const), retryAfter: sometimes(50, fc.integer({ min: 0, max: 29 })), shouldRetry: fc.constant(null) }),
  },
  {
    weight: 8,
    arbitrary: fc.record({ kind: fc.constant('status' as const), status: fc.constant(529 as const), retryAfter: sometimes(30, fc.constant(5)), shouldRetry: fc.constant(null) }),
  },
  {
    weight: 7,
    arbitrary: fc.record({ kind: fc.constant('status' as const), status: fc.constant(500 as const), retryAfter: fc.constant(null), shouldRetry: sometimes(20, fc.constant(false as const)) }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('drop' as const), midStream: fc.boolean() }) },
  { weight: 5, arbitrary: fc.constant({ kind: 'malformed' as const }) },
);

interface CallSpec {
  daemon: 0 | 1;
  model: (typeof MODELS)[number];
  promptChars: number;
  maxTokens: number;
  stream: boolean;
  purpose: 'ambient' | 'user';
  inTask: boolean;
  trigger: 'save' | 'commit' | 'cron';
  /** The reply to each attempt, in order; attempts beyond the list get a good reply. */
  answers: Answer[];
}

const callArb: fc.Arbitrary<CallSpec> = fc.record({
  daemon: fc.constantFrom(0 as const, 1 as const),
  model: fc.constantFrom(...MODELS),
  promptChars: fc.integer({ min: 50, max: 30_049 }),
  maxTokens: fc.integer({ min: 50, max: 4_049 }),
  stream: fc.boolean(),
  purpose: fc.oneof({ weight: 7, arbitrary: fc.constant('ambient' as const) }, { weight: 3, arbitrary: fc.constant('user' as const) }),
  inTask: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  trigger: fc.constantFrom('save' as const, 'commit' as const, 'cron' as const),
  answers: fc.array(answerArb, { minLength: 1, maxLength: 8 }),
});

interface TrialSpec {
  /** How far the clock moves before the trial (on top of the retry waits of the previous one). */
  advanceMs: number;
  /** The retry jitter's random draw, for every retry of this trial. */
  jitter: number;
  /** The daemon that dies when this call's first request reaches the API (null: no crash). */
  crash: { atCall: number; victim: 0 | 1 } | null;
  calls: CallSpec[];
}

const trialArb: fc.Arbitrary<TrialSpec> = fc.record({
  advanceMs: fc.integer({ min: 0, max: 90 * 60_000 - 1 }),
  jitter: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  // The atCall may name a call the trial does not have: then nobody dies (about 8 % of trials crash).
  crash: sometimes(11, fc.record({ atCall: fc.integer({ min: 0, max: 4 }), victim: fc.constantFrom(0 as const, 1 as const) })),
  calls: fc.array(callArb, { minLength: 1, maxLength: 5 }),
});

let dir: string;
let fake: FakeAnthropic;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-spend-property-'));
  fake = await startFakeAnthropic();
});
after(async () => {
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Daemon {
  db: Db;
  client: ModelClient;
  alive: boolean;
}

const CAP_COLUMNS = [
  ['task', 'task_id'],
  ['hour', 'hour_key'],
  ['day', 'day_key'],
  ['month', 'month_key'],
] as const;

function violations(db: Db, budget: Budget): string[] {
  const caps = capsMicro(budget);
  const out: string[] = [];
  for (const [cap, col] of CAP_COLUMNS) {
    const capMicro = caps[cap];
    if (capMicro === undefined) continue;
    const rows = db
      .prepare(
        `SELECT ${col} AS k, SUM(CASE WHEN state = 'open' THEN reserved_micro ELSE cost_micro END) AS s
         FROM spend_reservations WHERE state != 'released' AND ${col} IS NOT NULL GROUP BY ${col}`,
      )
      .all() as Array<{ k: string; s: number }>;
    for (const r of rows) if (r.s > capMicro) out.push(`${cap} ${r.k}: ${r.s} µ$ > cap ${capMicro} µ$`);
  }
  return out;
}

function toReply(a: Answer, maxTokens: number): Reply {
  switch (a.kind) {
    case 'ok': {
      const spec = { text: 'done', usage: { output_tokens: 1 + Math.floor((a.outputPermille / 1_000) * maxTokens) } };
      return a.delayMs > 0 ? { delayMs: a.delayMs, then: spec } : spec;
    }
    case 'status':
      return { status: a.status, ...(a.retryAfter !== null ? { retryAfter: a.retryAfter } : {}), ...(a.shouldRetry !== null ? { shouldRetry: a.shouldRetry } : {}) };
    case 'drop':
      return { drop: a.midStream ? 'mid-stream' : true };
    case 'malformed':
      return { malformed: true };
  }
}

type Stats = { trials: number; histories: number; billed: number; replies: number; faults: number; crashes: number; ok: number; skipped: number; failed: number; died: number; steps: number; reconciled: number; fullestDayMicro: number };

/** Runs one history against a fresh SQLite file and throws at the first broken promise. */
async function runHistory(trials: TrialSpec[], file: string, stats: Stats): Promise<void> {
  const prices = loadPriceTable();
  const clock = new ManualClock(new Date(2026, 9, 20, 8, 0, 0).getTime());
  let waited = 0;
  let current: { trial: number; spec: TrialSpec; attempts: number[] } | undefined;

  const start = (): Daemon => {
    const db = openDb(file);
    const client = createModelClient({
      db,
      budget: BUDGET,
      models: { act: 'claude-opus-4-7', triage: 'claude-haiku-4-5' },
      apiKey: 'sk-property',
      baseURL: fake.url,
      prices,
      clock: clock.now,
      // Waits are summed and applied between trials: if one call's retry-after moved the shared
      // clock while another call was between reserve and send, the API would see the request in a
      // different hour than the ledger charged it to, and the billed-per-window check below
      // would compare different windows.
      sleep: async (ms: number) => {
        waited = Math.max(waited, ms);
      },
      random: () => current?.spec.jitter ?? 0.5,
    });
    return { db, client, alive: true };
  };
  // Two daemon connections on one file: the ledger must hold across connections, not just calls.
  let daemons: Daemon[] = [start(), start()];
  const crash = (d: Daemon): void => {
    // The process dies with requests at the API: its connection goes away, its reservations stay open.
    d.alive = false;
    d.db.close();
    stats.crashes++;
  };

  // When each request reached the API, on the daemons' clock (nothing advances it between reserve and send).
  const sentAt = new Map<object, number>();
  const strays: string[] = [];
  fake.reset();
  fake.setFallback((req): Reply => {
    const m = /^trial#(\d+) call#(\d+)$/.exec(String(req.body?.system ?? ''));
    // Every call of a trial is settled before the next one starts, so nothing else can arrive.
    if (!m || !current || Number(m[1]) !== current.trial) {
      strays.push(String(req.body?.system));
      return { status: 400, message: 'a request outside its trial' };
    }
    const i = Number(m[2]);
    const call = current.spec.calls[i]!;
    const n = current.attempts[i]!++;
    stats.replies++;
    sentAt.set(req, clock.now());
    const plan = current.spec.crash;
    if (n === 0 && plan && plan.atCall === i && daemons[plan.victim]!.alive) crash(daemons[plan.victim]!);
    const answer = call.answers[n] ?? { kind: 'ok', outputPermille: 1_000, delayMs: 0 };
    if (answer.kind !== 'ok') stats.faults++;
    return toReply(answer, Number(req.body?.max_tokens ?? 100));
  });

  try {
    for (const [t, spec] of trials.entries()) {
      clock.advance(waited + spec.advanceMs);
      waited = 0;
      current = { trial: t, spec, attempts: spec.calls.map(() => 0) };
      const task = `task-${Math.floor(t / 3)}`;
      const results = await Promise.allSettled(
        spec.calls.map((c, i) =>
          daemons[c.daemon]!.client.call({
            model: c.model,
            system: `trial#${t} call#${i}`,
            messages: [{ role: 'user', content: 'y'.repeat(c.promptChars) }],
            max_tokens: c.maxTokens,
            stream: c.stream,
            purpose: c.purpose,
            taskId: c.inTask ? task : undefined,
            trigger: c.trigger,
          }),
        ),
      );
      stats.trials++;
      for (const r of results) {
        if (r.status === 'rejected') {
          stats.died++;
          continue;
        }
        stats[r.value.status]++;
        stats.steps += r.value.steps.length;
      }
      // Restart what died: a fresh connection reconciles what the dead one left open.
      daemons = daemons.map((d) => {
        if (d.alive) return d;
        const fresh = start();
        fresh.client.ledger.reconcileOpenReservations(clock.now());
        return fresh;
      });
      const bad = violations(daemons[0]!.db, BUDGET);
      assert.deepEqual(bad, [], `cap exceeded after trial ${t}`);
      assert.deepEqual(strays, [], `requests outside their trial (before trial ${t} ended)`);
    }
    current = undefined;

    // What the API actually billed (every message it generated, crashed daemons' calls included)
    // stays under every cap, and the ledger never counts less than that in any window.
    const db = daemons[0]!.db;
    const billedBy = new Map<string, number>();
    for (const b of fake.billed) {
      const keys = windowKeys(sentAt.get(b.request)!);
      const cost = costMicro(priceFor(prices, b.model).rates, b.usage);
      for (const k of [`hour ${keys.hour}`, `day ${keys.day}`, `month ${keys.month}`]) billedBy.set(k, (billedBy.get(k) ?? 0) + cost);
    }
    const caps = capsMicro(BUDGET);
    for (const [k, billed] of billedBy) {
      const [cap, key] = k.split(' ') as ['hour' | 'day' | 'month', string];
      assert.ok(billed <= caps[cap]!, `billed ${billed} µ$ > ${cap} cap in ${key}`);
      const col = { hour: 'hour_key', day: 'day_key', month: 'month_key' }[cap];
      const counted = (db.prepare(`SELECT COALESCE(SUM(cost_micro), 0) AS s FROM spend_reservations WHERE state != 'released' AND ${col} = ?`).get(key) as { s: number }).s;
      assert.ok(counted >= billed, `ledger counts ${counted} µ$ but the API billed ${billed} µ$ in ${cap} ${key}`);
    }
    const overruns = db.prepare(`SELECT count(*) AS n FROM spend_reservations WHERE note LIKE 'overrun%'`).get() as { n: number };
    assert.equal(overruns.n, 0, 'no settled cost ever exceeded its reservation');
    const open = db.prepare(`SELECT count(*) AS n FROM spend_reservations WHERE state = 'open'`).get() as { n: number };
    assert.equal(open.n, 0, 'nothing is left open once every call has returned and the dead have been reconciled');
    // And the ledger class agrees with the raw rows.
    assert.equal(new SpendLedger(db, { prices, budget: BUDGET }).capStates(clock.now()).length, 3);

    stats.billed += fake.billed.length;
    stats.reconciled += (db.prepare(`SELECT count(*) AS n FROM spend_reservations WHERE state = 'reconciled'`).get() as { n: number }).n;
    const fullest = db
      .prepare(`SELECT COALESCE(MAX(s), 0) AS m FROM (SELECT SUM(cost_micro) AS s FROM spend_reservations WHERE state != 'released' GROUP BY day_key)`)
      .get() as { m: number };
    stats.fullestDayMicro = Math.max(stats.fullestDayMicro, fullest.m);
  } finally {
    current = undefined;
    for (const d of daemons) if (d.alive) d.db.close();
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
  }
}

test(`spent + open never exceeds any cap: ${TRIALS} trials with faults, concurrency and crashes (fast-check)`, async (t) => {
  const stats: Stats = { trials: 0, histories: 0, billed: 0, replies: 0, faults: 0, crashes: 0, ok: 0, skipped: 0, failed: 0, died: 0, steps: 0, reconciled: 0, fullestDayMicro: 0 };
  const historyArb = fc.array(trialArb, { minLength: 1, maxLength: HISTORY, size: 'max' });
  const started = Date.now();
  // One fast-check run per history, each with its own seed, until TRIALS trials have passed (a
  // failing run throws out of fc.assert once shrunk, so the counts are those of passing runs).
  for (let h = 0; stats.trials < TRIALS; h++) {
    const seed = SEED + h;
    await fc.assert(
      fc.asyncProperty(historyArb, (trials) => runHistory(trials, path.join(dir, `history-${seed}.db`), stats)),
      // unbiased: a single run per seed would otherwise always draw the small values of a first run;
      // includeErrorInReport: the broken promise is printed beside the shrunk history.
      { numRuns: 1, seed, unbiased: true, includeErrorInReport: true },
    );
    stats.histories++;
  }
  t.diagnostic(`seeds ${SEED}..${SEED + stats.histories - 1}, ${Date.now() - started} ms: ${JSON.stringify(stats)}`);

  // The property only means something if every path was exercised (shares of the 1,000-trial default).
  if (TRIALS >= 1_000) {
    assert.ok(stats.faults / stats.replies >= 0.3, `fault share ${stats.faults}/${stats.replies}`);
    assert.ok(stats.crashes >= 20, `crashes ${stats.crashes}`);
    assert.ok(stats.billed > 500, `messages billed ${stats.billed}`);
    assert.ok(stats.reconciled > 0, 'some reservations were reconciled after a crash');
    assert.ok(stats.ok > 300 && stats.skipped > 50 && stats.failed > 10 && stats.steps > 50, JSON.stringify(stats));
    // Caps were really reached: some day got within a small call of its cap.
    assert.ok(stats.fullestDayMicro > capsMicro(BUDGET).day! * 0.8, `fullest day ${stats.fullestDayMicro}`);
  }
});
