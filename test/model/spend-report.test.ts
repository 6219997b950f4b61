import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb } from '../../src/store/db.js';
import { SpendLedger, type Budget } from '../../src/model/ledger.js';
import { loadPriceTable } from '../../src/model/prices.js';
import { formatSpendReport, spendReport } from '../../src/model/spend-report.js';

test('kairos spend --json numbers equal the sums of the ledger rows', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-spend-report-'));
  try {
    const db = openDb(path.join(dir, 'k.db'));
    const budget: Budget = { task_usd: 0.5, hour_usd: 1, day_usd: 3, month_usd: 50 };
    const ledger = new SpendLedger(db, { prices: loadPriceTable(), budget });
    const now = new Date(2026, 10, 24, 15, 20).getTime();
    const models = ['claude-opus-4-7', 'claude-sonnet-4-6', 'claude-haiku-4-5', 'mystery-model'];
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 120; i++) {
      const at = now - Math.floor(rnd() * 3 * 86_400_000); // the last three days, some in the previous hour
      const r = ledger.reserve(
        { model: models[i % 4]!, inputTokens: 200 + i, maxTokens: 300, purpose: 'ambient', taskId: `t${i % 7}`, trigger: ['save', 'commit', undefined][i % 3] },
        at,
      );
      if (!r.ok) continue;
      const k = i % 5;
      if (k === 0) ledger.release(r.id, at);
      else if (k === 1) ledger.chargeWorstCase(r.id, at, 'drop');
      else if (k === 2 || k === 4) ledger.settle(r.id, { input_tokens: 50, output_tokens: 20 + i, cache_read_input_tokens: 150, cache_creation_input_tokens: 10 }, at);
      // k === 3 stays open, as a call in flight
    }
    const rep = spendReport(db, budget, now, { taskId: 't3' });
    const sum = (where: string, args: unknown[], expr: string) =>
      (db.prepare(`SELECT COALESCE(SUM(${expr}), 0) AS s FROM spend_reservations WHERE state != 'released' AND ${where}`).get(...args) as { s: number }).s;
    const spent = "CASE WHEN state = 'open' THEN 0 ELSE cost_micro END";
    const open = "CASE WHEN state = 'open' THEN reserved_micro ELSE 0 END";
    const micro = (usd: number) => Math.round(usd * 1_000_000);
    const keys = { hour: '2026-11-24T15', day: '2026-11-24', month: '2026-11' };
    for (const [cap, col] of [['hour', 'hour_key'], ['day', 'day_key'], ['month', 'month_key']] as const) {
      assert.equal(micro(rep[cap]!.spent_usd), sum(`${col} = ?`, [keys[cap]], spent), cap);
      assert.equal(micro(rep[cap]!.reserved_usd), sum(`${col} = ?`, [keys[cap]], open), cap);
    }
    assert.equal(micro(rep.task!.spent_usd), sum('task_id = ?', ['t3'], spent));
    assert.equal(rep.day!.cap_usd, 3);
    assert.ok(rep.month!.spent_usd > 0 && rep.month!.reserved_usd > 0, 'the fixture has both');
    for (const m of models) {
      assert.equal(micro(rep.by_model[m]!.spent_usd), sum('model = ? AND month_key = ?', [m, keys.month], spent), m);
    }
    const triggerTotal = Object.values(rep.by_trigger).reduce((a, t) => a + micro(t.spent_usd), 0);
    assert.equal(triggerTotal, sum('month_key = ?', [keys.month], spent));
    const cr = sum("state = 'settled' AND month_key = ?", [keys.month], 'cache_read_tokens');
    const all = sum("state = 'settled' AND month_key = ? AND input_tokens IS NOT NULL", [keys.month], 'input_tokens + cache_creation_tokens + cache_read_tokens');
    assert.equal(rep.cache_read_share, Math.round((cr / all) * 10_000) / 10_000);
    const text = formatSpendReport(rep);
    assert.match(text, /^task  t3/m);
    assert.match(text, /cache reads: \d+\.\d %/);
    // Only configured caps appear.
    const noCaps = spendReport(db, { day_usd: 1 }, now);
    assert.deepEqual(['task', 'hour', 'month'].filter((c) => c in noCaps), []);
    db.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
