import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PriceTableError } from '../../src/model/errors.js';
import { costMicro, loadPriceTable, priceFor, readPriceOverrides, usdToMicro, worstCaseMicro } from '../../src/model/prices.js';

test('the shipped table has current Opus, Sonnet and Haiku models and a checked date', () => {
  const t = loadPriceTable();
  assert.match(t.checked, /^\d{4}-\d{2}-\d{2}$/);
  for (const id of ['claude-opus-4-7', 'claude-sonnet-4-6', 'claude-haiku-4-5']) assert.ok(t.models.has(id), id);
  assert.deepEqual(t.models.get('claude-sonnet-4-6'), { input: 3_000_000, output: 15_000_000, cacheWrite: 3_750_000, cacheRead: 300_000 });
});

test('an unknown model is priced as the most expensive known one; a dated id matches its entry', () => {
  const t = loadPriceTable();
  const unknown = priceFor(t, 'claude-next-99');
  assert.equal(unknown.known, false);
  for (const r of t.models.values()) assert.ok(unknown.rates.output >= r.output && unknown.rates.cacheWrite >= r.cacheWrite);
  const dated = priceFor(t, 'claude-haiku-4-5-20251001');
  assert.equal(dated.known, true);
  assert.equal(dated.pricedAs, 'claude-haiku-4-5');
});

test('costs are exact integers in micro-dollars, rounded up, never floats', () => {
  const rates = loadPriceTable().models.get('claude-haiku-4-5')!;
  // 1 token of cache read at $0.10/MTok is 0.1 µ$: rounds up to 1.
  assert.equal(costMicro(rates, { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 1 }), 1);
  assert.equal(costMicro(rates, { input_tokens: 1_000_000, output_tokens: 1_000_000 }), 6_000_000);
  // 0.1 + 0.2 style float error cannot appear: 3 cache reads = 0.3 µ$ → 1, 10 = exactly 1.
  assert.equal(costMicro(rates, { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 10 }), 1);
  assert.equal(costMicro(rates, { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 11 }), 2);
  // The worst case prices input at the dearer cache-write rate.
  assert.equal(worstCaseMicro(rates, 1000, 1000), 1250 + 5000);
  assert.equal(usdToMicro(0.07), 70_000);
  assert.throws(() => costMicro(rates, { input_tokens: 1.5, output_tokens: 0 }), PriceTableError);
});

test('users can add models and override prices; a bad file names the file and the key', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-prices-'));
  try {
    const file = path.join(dir, 'prices.yaml');
    fs.writeFileSync(file, 'models:\n  my-local-claude: { input: 0.5, output: 1, cache_write: 0.6, cache_read: 0.05 }\n');
    const t = loadPriceTable({ overrides: readPriceOverrides(file) });
    assert.equal(priceFor(t, 'my-local-claude').known, true);
    assert.equal(priceFor(t, 'my-local-claude').rates.output, 1_000_000);
    assert.deepEqual(readPriceOverrides(path.join(dir, 'missing.yaml')), {});
    fs.writeFileSync(file, 'checked: "2026-01-01"\nmodels:\n  x: { input: 1, output: "cheap", cache_write: 1, cache_read: 1 }\n');
    assert.throws(() => loadPriceTable({ file }), (e: Error) => e instanceof PriceTableError && /prices\.yaml: models\.x\.output/.test(e.message));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
