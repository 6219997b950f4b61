import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { LedgerError } from '../../src/model/errors.js';
import { SpendLedger, type Budget } from '../../src/model/ledger.js';
import { loadPriceTable } from '../../src/model/prices.js';

const prices = loadPriceTable();
const HAIKU = 'claude-haiku-4-5';
const T0 = new Date(2026, 10, 24, 10, 30, 0).getTime();
let dir: string;
let n = 0;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-task-cap-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function fresh(budget: Budget): { db: Db; ledger: SpendLedger } {
  const db = openDb(path.join(dir, `c${++n}.db`));
  return { db, ledger: new SpendLedger(db, { prices, budget }) };
}

// Haiku worst case: 1.25 µ$ per input token (cache write), 5 µ$ per output token.
const call = (taskId: string, maxTokens: number) => ({ model: HAIKU, inputTokens: 0, maxTokens, purpose: 'ambient' as const, taskId });

test('a task cap override replaces budget.task_usd for that task only', () => {
  const { ledger } = fresh({ task_usd: 1 });
  ledger.setTaskCap('7-w1', 20_000, {}, T0);
  assert.equal(ledger.taskLeftMicro('7-w1'), 20_000);
  assert.equal(ledger.taskLeftMicro('8'), 1_000_000);
  assert.ok(ledger.reserve(call('7-w1', 4000), T0).ok); // 20,000 µ$: exactly the slice
  const refused = ledger.reserve(call('7-w1', 1), T0);
  assert.equal(refused.ok, false);
  if (!refused.ok) {
    assert.equal(refused.cap, 'task');
    assert.equal(refused.windowKey, '7-w1');
    assert.equal(refused.capMicro, 20_000);
  }
  assert.ok(ledger.reserve(call('8', 100_000), T0).ok, 'another task still has budget.task_usd');
});

test("a worker's spend counts in its parent's task total, open and settled", () => {
  const { ledger } = fresh({ task_usd: 0.1 }); // 100,000 µ$
  const c = ledger.reserve(call('9', 2000), T0); // 10,000
  assert.ok(c.ok);
  if (c.ok) ledger.settle(c.id, { input_tokens: 0, output_tokens: 1000 }, T0); // 5,000
  assert.equal(ledger.taskLeftMicro('9'), 95_000);
  ledger.setTaskCap('9-w1', 40_000, { parentTaskId: '9' }, T0);
  ledger.setTaskCap('9-w2', 40_000, { parentTaskId: '9' }, T0);
  const w1 = ledger.reserve(call('9-w1', 6000), T0); // 30,000 open
  assert.ok(w1.ok);
  assert.equal(ledger.taskLeftMicro('9'), 65_000);
  if (w1.ok) ledger.settle(w1.id, { input_tokens: 0, output_tokens: 2000 }, T0); // 10,000
  assert.equal(ledger.taskLeftMicro('9'), 85_000);
  assert.equal(ledger.taskLeftMicro('9-w1'), 30_000);
  // The coordinator after its workers: 85,000 left, so a 90,000 worst case is refused.
  const big = ledger.reserve(call('9', 18_000), T0);
  assert.equal(big.ok, false);
  assert.ok(ledger.reserve(call('9', 17_000), T0).ok);
});

test("a worker's reservation must also fit under its parent's cap, even if its slice was set too large", () => {
  const { ledger } = fresh({ task_usd: 0.05 }); // 50,000 µ$
  ledger.setTaskCap('3-w1', 1_000_000, { parentTaskId: '3' }, T0);
  const r = ledger.reserve(call('3-w1', 12_000), T0); // 60,000 > the parent's 50,000
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.windowKey, '3');
});

test('setTaskCap refuses nonsense', () => {
  const { ledger } = fresh({ task_usd: 1 });
  assert.throws(() => ledger.setTaskCap('a', -1, {}, T0), LedgerError);
  assert.throws(() => ledger.setTaskCap('a', 1.5, {}, T0), LedgerError);
  assert.throws(() => ledger.setTaskCap('a', 1, { parentTaskId: 'a' }, T0), LedgerError);
});
