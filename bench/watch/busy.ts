/**
 * A busy folder in the big tree: BUSY_RATE writes a second (a build writing output, a log) for
 * BUSY_SECONDS, with Kairos, raw @parcel/watcher and Watchman all watching the tree at once. CPU over
 * the same window (the daemon's own ticks, not its commands'), Kairos's RSS sampled every 5 s, and the
 * starts of a trigger on that folder (its command writes the time first thing).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { BUSY_RATE, BUSY_SECONDS, MAX_WAIT_MS, SETTLE_MS } from './config.js';
import { kairosHome, markerStarts, markerTrigger, scratch } from './env.js';
import { procSample, rssMb, sleep, slope, TICKS_PER_SECOND } from './measure.js';
import { startKairos, startParcel, startWatchmanServer, watchmanSubscribe, type Peer, type WatchmanServer } from './peers.js';
import { maxTarget, ratioTarget, type PeerName, type Results } from './table.js';

export async function measureBusy(res: Results, section: string, root: string, withWatchman: boolean): Promise<void> {
  const marks = scratch('busy-marks');
  const marker = path.join(marks.dir, 'starts');
  const h = kairosHome(`triggers:\n${markerTrigger('busy', 'busy/**', SETTLE_MS, marker)}`, 'native');
  const peers: Partial<Record<PeerName, Peer>> = {};
  let server: WatchmanServer | undefined;
  const minutes = BUSY_SECONDS / 60;
  const dur = minutes >= 1 ? `${minutes} min` : `${BUSY_SECONDS} s`;
  const cpuName = `CPU at ${BUSY_RATE} writes/s over ${dur}`;
  const busyDir = path.join(root, 'busy');
  try {
    fs.mkdirSync(busyDir, { recursive: true });
    peers.kairos = await startKairos(root, h.env, h.home);
    peers.parcel = await startParcel(root);
    if (withWatchman) {
      server = await startWatchmanServer();
      peers.watchman = await watchmanSubscribe(server, root);
    }
    const pids = Object.fromEntries(Object.entries(peers).map(([k, p]) => [k, p.pid])) as Partial<Record<PeerName, number>>;
    const ticksAt = (): Partial<Record<PeerName, number>> => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procSample(pid).cpuTicks]));
    const t0 = Date.now();
    const before = ticksAt();
    let at10: Partial<Record<PeerName, number>> | undefined;
    const rssT: number[] = [];
    const rssV: number[] = [];
    let nextSample = t0;
    const total = BUSY_SECONDS * BUSY_RATE;
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / BUSY_RATE;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      fs.writeFileSync(path.join(busyDir, `out${i % 200}.log`), `line ${i} at ${Date.now()}\n`);
      if (Date.now() >= nextSample) {
        rssT.push((Date.now() - t0) / 60_000);
        rssV.push(rssMb(pids.kairos!));
        nextSample += 5000;
      }
      if (!at10 && Date.now() - t0 >= 600_000) at10 = ticksAt();
    }
    const seconds = (Date.now() - t0) / 1000;
    const after = ticksAt();
    const pct = (from: Partial<Record<PeerName, number>>, to: Partial<Record<PeerName, number>>, s: number): Partial<Record<PeerName, number>> =>
      Object.fromEntries(Object.keys(to).map((k) => [k, Math.round((((to[k as PeerName]! - from[k as PeerName]!) / TICKS_PER_SECOND / s) * 100) * 100) / 100]));
    res.add({ section, name: cpuName, unit: '% of a core', values: pct(before, after, seconds), target: ratioTarget(2), note: `${total.toLocaleString('en')} writes; the daemon's own ticks` });
    if (at10) res.add({ section, name: `CPU at ${BUSY_RATE} writes/s over the first 10 min`, unit: '% of a core', values: pct(before, at10, 600), target: ratioTarget(2) });

    // RSS: after the first minute against the end, and the slope after minute 1.
    const firstMin = rssV[rssT.findIndex((t) => t >= 1)] ?? rssV[0]!;
    const end = rssV.at(-1)!;
    res.add({ section, name: `RSS after ${dur} ÷ RSS after 1 min`, unit: '×', values: { kairos: Math.round((end / firstMin) * 1000) / 1000 }, target: maxTarget(1.1), note: `${firstMin} MB → ${end} MB${minutes < 60 ? '; the hour is --long' : ''}` });
    const idx = rssT.map((t, i) => (t >= 1 ? i : -1)).filter((i) => i >= 0);
    const s = slope(idx.map((i) => rssT[i]!), idx.map((i) => rssV[i]!));
    res.add({
      section,
      name: `RSS slope after minute 1 (${dur})`,
      unit: 'MB/min',
      values: { kairos: Math.round(s * 100) / 100 },
      target: { text: '≈ 0: ×60 ≤ 10 % of RSS', ok: (k) => Math.abs(k) * 60 <= 0.1 * firstMin },
      note: `${idx.length} samples every 5 s`,
      ...(idx.length < 3 ? { failed: `only ${idx.length} RSS samples after minute 1: the run is too short for a slope` } : {}),
    });

    // The trigger on the busy folder: the gaps between its starts, the first counted from the first write.
    // A start is known by its marker line; the daemon is stopped after the last one it was due to make.
    await sleep(SETTLE_MS + 2000);
    const starts = markerStarts(marker);
    const gaps = starts.map((s2, i) => s2 - (i === 0 ? t0 : starts[i - 1]!)).concat(starts.length ? [] : [seconds * 1000]);
    const longest = Math.round(Math.max(...gaps));
    res.add({
      section,
      name: `longest gap between starts of the busy folder's trigger (${dur})`,
      unit: 'ms',
      values: { kairos: longest },
      target: maxTarget(MAX_WAIT_MS + 1000, `≤ max_wait ${MAX_WAIT_MS} ms + 1 s`),
      note: `${starts.length} starts; settle_ms ${SETTLE_MS}`,
    });
    const db = new Database(path.join(h.home, 'kairos.db'), { readonly: true });
    const stored = db.prepare("SELECT count(*) FROM events WHERE path LIKE 'busy/%'").pluck().get() as number;
    db.close();
    process.stdout.write(`  [${section}] ${stored.toLocaleString('en')} busy-folder events stored for ${total.toLocaleString('en')} writes\n`);
  } catch (e) {
    res.fail(section, cpuName, '% of a core', (e as Error).message.split('\n')[0]!, ratioTarget(2));
  } finally {
    for (const p of Object.values(peers)) await p.stop().catch(() => undefined);
    await server?.stop();
    h.cleanup();
    marks.cleanup();
    fs.rmSync(busyDir, { recursive: true, force: true });
  }
}
