/** Sizes and durations of a bench run: the full run, --quick (a smoke run of the bench itself) and --long. */
const argv = process.argv.slice(2);
export const quick = argv.includes('--quick');
export const long = argv.includes('--long');
const only = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
export const runs = (section: string): boolean => !only || only.includes(section);

export const TREE_FILES = quick ? 10_000 : 100_000;
export const IGNORED_FILES = quick ? 40_000 : 400_000;
export const RUNS = quick ? 1 : 3;
export const IDLE_SECONDS = quick ? 10 : 60;
/** Ticks-free seconds in a row that count as "start-up is over". */
export const QUIET_SECONDS = quick ? 3 : 10;
export const QUIET_MAX_SECONDS = quick ? 30 : 180;
/** The busy folder: 20 writes/s for this long. The full hour (--long) also gives the hour's RSS figure. */
export const BUSY_SECONDS = long ? 3600 : quick ? 40 : 180;
export const BUSY_RATE = 20;
export const LATENCY_STORE_SIZES = quick ? [1_000, 100_000] : [1_000, 1_000_000];
export const LATENCY_SAMPLES = quick ? 15 : 40;
export const OFFLINE_FILES = quick ? 200 : 1_000;
export const STORM_FILES = quick ? 2_000 : 10_000;
export const SETTLE_MS = 200;
/** The settle stage's longest wait under a steady stream (src/pipeline/settle.ts: max(30 s, 10 × settle_ms)). */
export const MAX_WAIT_MS = Math.max(30_000, SETTLE_MS * 10);
