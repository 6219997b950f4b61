import { redactDeep, redactRecord } from '../policy/filter.js';

/**
 * Listings print JSON with --json (stable, for scripts) and aligned text otherwise. Both redact
 * secrets (file names included) on the way out: what the store keeps as data (event paths, a
 * proposal's files) is shown, pasted and logged from here.
 */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(redactDeep(value), null, 2) + '\n');
}

export function printTable(shown: Array<Record<string, unknown>>, columns: string[]): void {
  const rows = shown.map((r) => redactRecord(r));
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const cells = rows.map((r) => columns.map((c) => oneLine(r[c])));
  const widths = columns.map((c, i) => Math.min(60, Math.max(c.length, ...cells.map((row) => row[i]!.length))));
  const fmt = (vals: string[]): string => vals.map((v, i) => v.slice(0, widths[i]).padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(fmt(columns) + '\n' + cells.map(fmt).join('\n') + '\n');
}

function oneLine(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.replace(/\s+/g, ' ');
}

export function parseLimit(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new Error(`--limit ${v}: expected a whole number from 1 to 100000`);
  return n;
}
