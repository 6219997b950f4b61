import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDb } from '../../src/store/db.js';
import { SpendLedger } from '../../src/model/ledger.js';
import { loadPriceTable } from '../../src/model/prices.js';
import { makeHome, kairosJson } from '../support/kairos.js';

interface Window { spent_usd: number; reserved_usd: number; cap_usd: number }
interface SpendJson { day: Window; month: Window; hour?: Window; by_model: Record<string, unknown>; cache_read_share: number }

test('kairos spend --json equals the sums of the ledger rows, against the policy caps', () => {
  const h = makeHome('budget: { day_usd: 5, month_usd: 50 }\n');
  try {
    const db = openDb(path.join(h.home, 'kairos.db'));
    const ledger = new SpendLedger(db, { prices: loadPriceTable(), budget: { day_usd: 5, month_usd: 50 } });
    const now = Date.now();
    const settledIds: number[] = [];
    for (let i = 0; i < 7; i++) {
      const r = ledger.reserve({ model: i % 2 ? 'claude-haiku-4-5' : 'claude-sonnet-4-6', inputTokens: 1000 + i * 137, maxTokens: 500, purpose: 'ambient', trigger: 't' }, now);
      assert.ok(r.ok, JSON.stringify(r));
      if (i < 5) {
        ledger.settle(r.id, { input_tokens: 900 + i, output_tokens: 100 * i, cache_read_input_tokens: 300, cache_creation_input_tokens: 0 }, now);
        settledIds.push(r.id);
      }
    }
    const sums = db.prepare(`SELECT
        sum(CASE WHEN state IN ('settled','reconciled') THEN coalesce(cost_micro, reserved_micro) ELSE 0 END) AS spent,
        sum(CASE WHEN state = 'open' THEN reserved_micro ELSE 0 END) AS reserved
      FROM spend_reservations`).get() as { spent: number; reserved: number };
    db.close();
    const report = kairosJson<SpendJson>(['spend'], h.env);
    assert.equal(report.day.cap_usd, 5);
    assert.equal(report.month.cap_usd, 50);
    assert.equal(report.hour, undefined, 'no hour cap configured, no hour window');
    assert.equal(Math.round(report.day.spent_usd * 1e6), sums.spent);
    assert.equal(Math.round(report.day.reserved_usd * 1e6), sums.reserved);
    assert.equal(Math.round(report.month.spent_usd * 1e6), sums.spent);
    assert.ok(sums.spent > 0 && sums.reserved > 0);
    assert.deepEqual(Object.keys(report.by_model).sort(), ['claude-haiku-4-5', 'claude-sonnet-4-6']);
    assert.ok(report.cache_read_share > 0);
  } finally {
    h.cleanup();
  }
});
