/**
 * Event → trigger START: from the write of a file to the moment the trigger's command is running
 * (its first act is to write the time), minus settle_ms; with the store pre-filled through the real
 * store API to each size. One sample at a time: the next write waits until the task is finished.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeRepo } from '../../test/support/git-repo.js';
import { LATENCY_SAMPLES, LATENCY_STORE_SIZES, SETTLE_MS } from './config.js';
import { kairosHome, markerStarts, markerTrigger, scratch } from './env.js';
import { percentile, until } from './measure.js';
import { startKairos } from './peers.js';
import { prefillStore } from './prefill.js';
import { maxTarget, type Results } from './table.js';

export async function measureLatency(res: Results, section: string): Promise<void> {
  // The figures are already beyond settle_ms: p99 ≤ settle_ms + 50 ms is ≤ 50 here.
  const target = maxTarget(50, '≤ 50 (p99 ≤ settle_ms+50)');
  for (const size of LATENCY_STORE_SIZES) {
    const label = `${size.toLocaleString('en')} events stored`;
    const marks = scratch('latency');
    const marker = path.join(marks.dir, 'starts');
    const h = kairosHome(`triggers:\n${markerTrigger('lat', 'lat/**', SETTLE_MS, marker)}`, 'native');
    const repo = makeRepo();
    try {
      fs.mkdirSync(path.join(repo.dir, 'lat'));
      const t0 = Date.now();
      prefillStore(h.home, repo.dir, 'lat', size);
      process.stdout.write(`  [${section}] ${label}: pre-filled in ${Math.round((Date.now() - t0) / 1000)} s\n`);
      const d = await startKairos(repo.dir, h.env, h.home);
      const db = new Database(path.join(h.home, 'kairos.db'), { readonly: true });
      const busy = db.prepare("SELECT count(*) FROM tasks WHERE trigger = 'lat' AND state IN ('queued', 'running')").pluck();
      const lat: number[] = [];
      try {
        for (let i = 0; i < LATENCY_SAMPLES; i++) {
          const seen = markerStarts(marker).length;
          const wrote = performance.timeOrigin + performance.now();
          fs.writeFileSync(path.join(repo.dir, 'lat', `s${i}.txt`), String(i));
          const started = await until(() => markerStarts(marker)[seen], `the trigger's command for sample ${i} (${label})`, 30_000, 2);
          lat.push(started - wrote - SETTLE_MS);
          await until(() => busy.get() === 0, `task ${i} finished`, 30_000, 10);
        }
      } finally {
        db.close();
        await d.stop();
      }
      const p50 = Math.round(percentile(lat, 50));
      const p99 = Math.round(percentile(lat, 99));
      res.add({ section, name: `write → command started, beyond settle_ms, p50 (${label})`, unit: 'ms', values: { kairos: p50 }, note: `n=${lat.length}, settle_ms ${SETTLE_MS}` });
      res.add({ section, name: `write → command started, beyond settle_ms, p99 (${label})`, unit: 'ms', values: { kairos: p99 }, target, note: `max ${Math.round(Math.max(...lat))} ms` });
    } catch (e) {
      res.fail(section, `write → command started, beyond settle_ms, p99 (${label})`, 'ms', (e as Error).message.split('\n')[0]!, target);
    } finally {
      repo.cleanup();
      h.cleanup();
      marks.cleanup();
    }
  }
}
