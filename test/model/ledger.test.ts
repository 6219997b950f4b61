import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { openDb, type Db } from '../../src/store/db.js';
import { LedgerError } from '../../src/model/errors.js';
import { SpendLedger, windowKeys, type Budget } from '../../src/model/ledger.js';
import { loadPriceTable } from '../../src/model/prices.js';
import { nodeArgsFor, REPO_ROOT } from '../support/paths.js';

const prices = loadPriceTable();
const HAIKU = 'claude-haiku-4-5';
const T0 = new Date(2026, 10, 24, 10, 30, 0).getTime();
let dir: string;
let n = 0;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-ledger-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function fresh(budget: Budget | (() => Budget)): { db: Db; ledger: SpendLedger; file: string } {
  const file = path.join(dir, `l${++n}.db`);
  const db = openDb(file);
  return { db, ledger: new SpendLedger(db, { prices, budget }), file };
}

test('reserve prices the worst case, settle records the real cost, release frees it', () => {
  const { ledger } = fresh({ day_usd: 1 });
  const r = ledger.reserve({ model: HAIKU, inputTokens: 1000, maxTokens: 2000, purpose: 'user', trigger: 't' }, T0);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.reservedMicro, 1000 * 1.25 + 2000 * 5);
  assert.equal(ledger.capStates(T0)[0]!.openMicro, 11_250);
  const s = ledger.settle(r.id, { input_tokens: 900, output_tokens: 10, cache_read_input_tokens: 100 }, T0);
  assert.equal(s.costMicro, 900 + 50 + 10);
  assert.deepEqual(ledger.capStates(T0)[0], { cap: 'day', windowKey: windowKeys(T0).day, capMicro: 1_000_000, committedMicro: 960, openMicro: 0, leftMicro: 999_040 });
  assert.throws(() => ledger.settle(r.id, { input_tokens: 1, output_tokens: 1 }, T0), LedgerError);
  const r2 = ledger.reserve({ model: HAIKU, inputTokens: 10, maxTokens: 10, purpose: 'user' }, T0);
  assert.ok(r2.ok);
  if (r2.ok) ledger.release(r2.id, T0);
  assert.equal(ledger.capStates(T0)[0]!.committedMicro, 960);
});

test('a refusal names the cap it would exceed; open reservations count as spent', () => {
  const { ledger } = fresh({ task_usd: 0.02, hour_usd: 0.05, day_usd: 1 });
  const a = ledger.reserve({ model: HAIKU, inputTokens: 0, maxTokens: 3000, purpose: 'user', taskId: 'A' }, T0); // 15,000 µ$
  assert.ok(a.ok);
  const b = ledger.reserve({ model: HAIKU, inputTokens: 0, maxTokens: 3000, purpose: 'user', taskId: 'A' }, T0);
  assert.ok(!b.ok);
  if (!b.ok) {
    assert.equal(b.cap, 'task');
    assert.equal(b.leftMicro, 5_000);
    assert.match(b.reason, /^task cap \$0\.02 \(A\)/);
  }
  for (const t of ['B', 'C']) assert.ok(ledger.reserve({ model: HAIKU, inputTokens: 0, maxTokens: 3000, purpose: 'user', taskId: t }, T0).ok);
  const d = ledger.reserve({ model: HAIKU, inputTokens: 0, maxTokens: 3000, purpose: 'user', taskId: 'D' }, T0);
  assert.ok(!d.ok && d.cap === 'hour');
  // The next hour is a new window.
  assert.ok(ledger.reserve({ model: HAIKU, inputTokens: 0, maxTokens: 3000, purpose: 'user', taskId: 'D' }, T0 + 3600_000).ok);
});

test('caps are re-read on every reservation, so raising one lets the next call through', () => {
  const budget: Budget = { day_usd: 0.001 };
  const { ledger } = fresh(() => budget);
  assert.equal(ledger.reserve({ model: HAIKU, inputTokens: 0, maxTokens: 1000, purpose: 'user' }, T0).ok, false);
  budget.day_usd = 0.01;
  assert.equal(ledger.reserve({ model: HAIKU, inputTokens: 0, maxTokens: 1000, purpose: 'user' }, T0).ok, true);
});

test('windows are local-time hour, day and month', () => {
  const late = new Date(2026, 0, 31, 23, 59, 59).getTime();
  assert.deepEqual(windowKeys(late), { hour: '2026-01-31T23', day: '2026-01-31', month: '2026-01' });
  assert.deepEqual(windowKeys(late + 1000), { hour: '2026-02-01T00', day: '2026-02-01', month: '2026-02' });
});

test('reconcile turns reservations left by a crash into spend at their worst case', () => {
  const { ledger, file, db } = fresh({ day_usd: 1 });
  const r = ledger.reserve({ model: HAIKU, inputTokens: 100, maxTokens: 1000, purpose: 'ambient' }, T0);
  assert.ok(r.ok);
  db.close(); // the daemon dies mid-call
  const db2 = openDb(file);
  const again = new SpendLedger(db2, { prices, budget: { day_usd: 1 } });
  const rec = again.reconcileOpenReservations(T0 + 1000);
  assert.equal(rec.count, 1);
  assert.equal(rec.micro, r.ok ? r.reservedMicro : -1);
  const st = again.capStates(T0)[0]!;
  assert.equal(st.openMicro, 0);
  assert.equal(st.committedMicro, rec.micro);
  // A late settle of a reconciled reservation replaces the worst case with the truth.
  if (r.ok) assert.equal(again.settle(r.id, { input_tokens: 100, output_tokens: 1 }, T0).costMicro, 105);
  db2.close();
});

test('thresholds at 50/80/100 % are recorded once per window', () => {
  const { ledger } = fresh({ day_usd: 0.01 });
  const spend = (out: number, at = T0) => {
    const r = ledger.reserve({ model: HAIKU, inputTokens: 0, maxTokens: out, purpose: 'user' }, at);
    assert.ok(r.ok);
    return r.ok ? ledger.settle(r.id, { input_tokens: 0, output_tokens: out }, at).crossings.map((c) => c.percent) : [];
  };
  assert.deepEqual(spend(1100), [50]); // 5,500 µ$ = 55 %
  assert.deepEqual(spend(100), []);
  assert.deepEqual(spend(600), [80]); // 8,500 µ$
  const refused = ledger.reserve({ model: HAIKU, inputTokens: 0, maxTokens: 1000, purpose: 'user' }, T0);
  assert.ok(!refused.ok && refused.crossings.map((c) => c.percent).join() === '100');
  const again = ledger.reserve({ model: HAIKU, inputTokens: 0, maxTokens: 1000, purpose: 'user' }, T0);
  assert.ok(!again.ok && again.crossings.length === 0, '100 % is reported once');
  assert.deepEqual(spend(1100, T0 + 86_400_000), [50], 'a new day reports again');
});

test('separate processes racing on one file never pass a cap together', async () => {
  const budget: Budget = { day_usd: 2 };
  const { file, db } = fresh(budget);
  db.close();
  const run = promisify(execFile);
  const worker = nodeArgsFor(import.meta.url, './ledger-race-worker.ts');
  const startAt = String(Date.now() + 2500);
  const outs = await Promise.all(
    [1, 2, 3, 4].map(() => run(process.execPath, [...worker, file, JSON.stringify(budget), '600', startAt], { cwd: REPO_ROOT })),
  );
  const results = outs.map((o) => JSON.parse(o.stdout) as { ok: number; refused: number });
  assert.ok(results.reduce((a, r) => a + r.refused, 0) > 0, 'the cap was reached');
  assert.ok(results.filter((r) => r.ok > 0).length >= 2, 'more than one process got reservations');
  const check = openDb(file);
  const total = check
    .prepare(`SELECT SUM(CASE WHEN state = 'open' THEN reserved_micro ELSE cost_micro END) AS s FROM spend_reservations WHERE state != 'released'`)
    .get() as { s: number };
  check.close();
  assert.ok(total.s <= 2_000_000, `${total.s} µ$ > cap`);
  assert.ok(total.s > 1_980_000, `the cap was nearly filled (${total.s})`);
});
