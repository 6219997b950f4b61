import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeHome } from '../../test/support/kairos.js';

export type Home = ReturnType<typeof makeHome>;

/** A fresh $KAIROS_HOME with this policy, on the engine asked for (never left to "auto"). */
export function kairosHome(policy: string, engine: 'native' | 'watchman', watchmanSock?: string): Home {
  const h = makeHome(policy);
  h.env.KAIROS_WATCHER = engine;
  if (watchmanSock) h.env.WATCHMAN_SOCK = watchmanSock;
  else delete h.env.WATCHMAN_SOCK;
  return h;
}

/** A scratch folder for a section's trees and marker files. */
export function scratch(tag: string): { dir: string; cleanup(): void } {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `kairos-bench-${tag}-`)));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A trigger whose command writes the time it started (ns since the epoch) first thing. */
export function markerTrigger(name: string, glob: string, settleMs: number, markerFile: string): string {
  return `  - name: ${name}
    on: { fs: ["${glob}"] }
    settle_ms: ${settleMs}
    run: 'date +%s%N >> ${markerFile}'
    notify: never
`;
}

/** Start times (ms since the epoch, fractional) the marker trigger recorded. */
export function markerStarts(file: string): number[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((ns) => Number(BigInt(ns) / 1000n) / 1000);
}
