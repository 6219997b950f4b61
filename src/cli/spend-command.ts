import { loadPolicyOrDefault } from '../policy/load.js';
import { formatSpendReport, spendReport } from '../model/spend-report.js';
import { withStore } from './listings.js';
import { printJson } from './output.js';

/** `kairos spend`: read straight from the ledger, against the caps of the user's policy. */
export function showSpend(home: string, json: boolean): number {
  const budget = loadPolicyOrDefault(home).budget;
  const report = withStore(home, (db) => spendReport(db, budget, Date.now()));
  if (json) printJson(report);
  else process.stdout.write(formatSpendReport(report) + '\n');
  return 0;
}
