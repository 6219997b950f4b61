// A node:test reporter beside the spec one: records how long each test file took into
// node_modules/.cache/kairos/test-times.json, so scripts/run-tests.mjs starts the slowest files first
// (with several files at once, a slow file started last is the tail the whole run waits for),
// and prints the slowest files of the run, so a unit file that grew slow is seen.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';

export const TIMES_FILE = 'node_modules/.cache/kairos/test-times.json';

export function readTimes() {
  try {
    return JSON.parse(readFileSync(TIMES_FILE, 'utf8'));
  } catch {
    return {}; // no run recorded yet (or an unreadable cache): every file counts as equal
  }
}

// Merges this run's times (file → ms) into the recorded ones.
export function recordTimes(took) {
  const times = { ...readTimes(), ...Object.fromEntries([...took].map(([f, ms]) => [f, Math.round(ms)])) };
  mkdirSync(dirname(TIMES_FILE), { recursive: true });
  writeFileSync(TIMES_FILE, `${JSON.stringify(times, null, 1)}\n`);
}

export default async function* testTimes(source) {
  const took = new Map();
  for await (const event of source) {
    if ((event.type !== 'test:pass' && event.type !== 'test:fail') || event.data.nesting !== 0) continue;
    const file = event.data.file;
    if (!file) continue;
    const key = relative(process.cwd(), file);
    took.set(key, (took.get(key) ?? 0) + (event.data.details?.duration_ms ?? 0));
  }
  if (took.size === 0) return;
  recordTimes(took);
  const slowest = [...took].sort((a, b) => b[1] - a[1]).slice(0, 5);
  yield `slowest files: ${slowest.map(([f, ms]) => `${f} ${(ms / 1000).toFixed(1)} s`).join(', ')}\n`;
}
