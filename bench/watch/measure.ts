import fs from 'node:fs';
import { inotifyWatchCount } from '../../test/support/inotify.js';

/** USER_HZ on Linux: /proc/<pid>/stat counts CPU time in ticks of 10 ms. */
export const TICKS_PER_SECOND = 100;

export interface ProcSample {
  /** utime + stime of the process itself (not of the commands it spawned), in ticks. */
  cpuTicks: number;
  rssKb: number;
}

export function procSample(pid: number): ProcSample {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const rss = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuTicks: Number(f[11]) + Number(f[12]), rssKb: Number(rss?.[1] ?? 0) };
}

export const rssMb = (pid: number): number => Math.round(procSample(pid).rssKb / 1024);
export const watches = (pid: number): number => inotifyWatchCount(pid);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den ? num / den : 0;
}

/** A bench step that did not finish in time, or cannot: the figure is FAILED, never a number. */
export class BenchTimeout extends Error {
  override name = 'BenchTimeout';
}

/** Polls `fn` until truthy; throws BenchTimeout naming `what` after timeoutMs. */
export async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs: number, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      if (e instanceof BenchTimeout) throw e; // a failure the condition itself declared final
      last = e;
    }
    if (Date.now() > deadline) throw new BenchTimeout(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? ` (last error: ${(last as Error).message.split('\n')[0]})` : ''}`);
    await sleep(intervalMs);
  }
}

/**
 * Waits until every process has spent no CPU tick for `quietSeconds` in a row (its start-up
 * garbage collection and deferred work are over), checked once a second, for at most maxSeconds.
 * Returns how long it waited and which processes never went quiet (the caller marks their figure).
 */
export async function waitQuiet(pids: Record<string, number>, quietSeconds: number, maxSeconds: number): Promise<{ waitedMs: number; notQuiet: string[] }> {
  const t0 = Date.now();
  const last: Record<string, number> = {};
  const quietFor: Record<string, number> = {};
  for (const [k, pid] of Object.entries(pids)) {
    last[k] = procSample(pid).cpuTicks;
    quietFor[k] = 0;
  }
  for (;;) {
    await sleep(1000);
    for (const [k, pid] of Object.entries(pids)) {
      const now = procSample(pid).cpuTicks;
      quietFor[k] = now === last[k] ? quietFor[k]! + 1 : 0;
      last[k] = now;
    }
    const notQuiet = Object.keys(pids).filter((k) => quietFor[k]! < quietSeconds);
    if (!notQuiet.length || Date.now() - t0 > maxSeconds * 1000) return { waitedMs: Date.now() - t0, notQuiet };
  }
}
