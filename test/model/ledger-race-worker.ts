// A separate process hammering the ledger on a shared SQLite file (spawned by ledger.test.ts).
import { openDb } from '../../src/store/db.js';
import { SpendLedger } from '../../src/model/ledger.js';
import { loadPriceTable } from '../../src/model/prices.js';

const [file, budgetJson, countText, startAtText] = process.argv.slice(2);
const db = openDb(file!);
const ledger = new SpendLedger(db, { prices: loadPriceTable(), budget: JSON.parse(budgetJson!) });
const now = new Date(2026, 10, 24, 12, 0, 0).getTime();
// Start together so the processes really overlap.
while (Date.now() < Number(startAtText)) await new Promise((r) => setTimeout(r, 5));
let ok = 0;
let refused = 0;
for (let i = 0; i < Number(countText); i++) {
  const r = ledger.reserve({ model: 'claude-haiku-4-5', inputTokens: 100 + (i % 50) * 20, maxTokens: 1000, purpose: 'ambient' }, now);
  if (!r.ok) {
    refused++;
    continue;
  }
  ok++;
  if (i % 3 === 0) ledger.release(r.id, now);
  else if (i % 3 === 1) ledger.settle(r.id, { input_tokens: 100, output_tokens: 500 }, now);
  // i % 3 === 2: left open, as a crash would leave it
}
db.close();
process.stdout.write(JSON.stringify({ ok, refused }));
