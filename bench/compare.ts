import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type Measured = Record<string, number>;

interface Baseline {
  target: number;
  unit: string;
  why?: string;
}

/** Prints measured numbers beside the named baselines in bench/baselines.json; returns how many missed. */
export function compare(group: string, measured: Measured): number {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'bench', 'baselines.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('bench/baselines.json not found');
    dir = up;
  }
  const all = JSON.parse(fs.readFileSync(path.join(dir, 'bench', 'baselines.json'), 'utf8')) as Record<string, Record<string, Baseline>>;
  const baselines = all[group] ?? {};
  let missed = 0;
  process.stdout.write(`\n${group}: measured vs baseline\n`);
  for (const [name, value] of Object.entries(measured)) {
    const b = baselines[name];
    const verdict = b ? (value <= b.target ? 'ok' : 'MISSED') : 'no baseline';
    if (verdict === 'MISSED') missed++;
    process.stdout.write(`  ${name.padEnd(20)} ${String(value).padStart(10)}  ${b ? `target ≤ ${b.target} ${b.unit}` : ''}  ${verdict}\n`);
  }
  return missed;
}
