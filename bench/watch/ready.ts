/**
 * A watched tree from cold: ready time, RSS at ready and inotify watches, for Kairos (native engine,
 * first start and restart with a snapshot; and on its Watchman backend), raw @parcel/watcher, raw
 * chokidar 5 and Watchman. Runs are interleaved round by round so a noisy minute hits every peer; the
 * median of the rounds is reported.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kairosHome, type Home } from './env.js';
import { median, rssMb, watches } from './measure.js';
import { kairosStartup, startChokidar, startKairos, startParcel, startWatchmanServer, watchmanSubscribe, type Peer } from './peers.js';
import { maxTarget, ratioTarget, type PeerName, type Results } from './table.js';

export interface ReadyFigures {
  readyMs: Partial<Record<PeerName | 'kairos-restart', number>>;
  rssMb: Partial<Record<PeerName | 'kairos-restart', number>>;
  watches: Partial<Record<PeerName | 'kairos-restart', number>>;
  kairosFiles?: number;
  kairosDirs?: number;
}

const POLICY = `
triggers:
  - name: src
    on: { fs: ["src/**"] }
    settle_ms: 200
    run: 'true'
    notify: never
`;

type Row = 'kairos' | 'kairos-restart' | 'kairos-watchman' | 'parcel' | 'parcel-restart' | 'parcel-watchman' | 'chokidar' | 'watchman';

interface Sample {
  readyMs: number;
  rssMb: number;
  watches: number;
}

/**
 * Kairos's ready time split by its own log: loading node and its modules, scanning, subscribing, the
 * offline diff. With `subscribedEarly` (a restart) the subscription ran beside the scan, both timed
 * from the watcher's start: they overlap rather than add up.
 */
type Split = { loadMs?: number; scanMs?: number; subscribeMs?: number; offlineMs?: number; subscribedEarly?: boolean; walk?: string };

export async function measureReady(res: Results, section: string, root: string, dirs: number, rounds: number, withWatchman: boolean): Promise<ReadyFigures | undefined> {
  const samples: Record<Row, Sample[]> = { kairos: [], 'kairos-restart': [], 'kairos-watchman': [], parcel: [], 'parcel-restart': [], 'parcel-watchman': [], chokidar: [], watchman: [] };
  const errors: Partial<Record<Row, string>> = {};
  const splits: Record<'kairos' | 'kairos-restart', Split[]> = { kairos: [], 'kairos-restart': [] };
  let files: number | undefined;
  let kdirs: number | undefined;
  const take = async (row: Row, start: () => Promise<Peer & { extraRssMb?: number }>): Promise<void> => {
    if (errors[row]) return;
    try {
      const p = await start();
      samples[row].push({ readyMs: p.readyMs, rssMb: rssMb(p.pid) + (p.extraRssMb ?? 0), watches: watches(p.pid) });
      await p.stop();
    } catch (e) {
      errors[row] = (e as Error).message.split('\n')[0]!;
      process.stdout.write(`  [${section}] ${row}: ${errors[row]}\n`);
    }
  };
  for (let round = 0; round < rounds; round++) {
    process.stdout.write(`  [${section}] round ${round + 1}/${rounds}\n`);
    let home: Home | undefined = kairosHome(POLICY, 'native');
    try {
      await take('kairos', async () => {
        const k = await startKairos(root, home!.env, home!.home);
        const w = (await k.status()).repos[0]?.watcher;
        files = w?.files;
        kdirs = w?.dirs;
        if (w?.engine !== 'native') throw new Error(`Kairos ran on ${w?.engine}, not the native engine`);
        splits.kairos.push(kairosStartup(k));
        return k;
      });
      // The same home again: a restart compares the tree with the snapshot the first run left.
      await take('kairos-restart', async () => {
        const k = await startKairos(root, home!.env, home!.home);
        splits['kairos-restart'].push(kairosStartup(k));
        return k;
      });
    } finally {
      home.cleanup();
      home = undefined;
    }
    await take('parcel', () => startParcel(root));
    // Raw parcel restarting as Kairos does (subscribe, then compare with the snapshot its last run wrote):
    // the like-for-like peer of Kairos's restart. Its first run writes the snapshot.
    const parcelSnapshot = path.join(os.tmpdir(), `kairos-bench-parcel-${process.pid}-${round}.snapshot`);
    try {
      await (await startParcel(root, { snapshot: parcelSnapshot })).stop();
      await take('parcel-restart', () => startParcel(root, { snapshot: parcelSnapshot }));
    } finally {
      fs.rmSync(parcelSnapshot, { force: true });
    }
    await take('chokidar', () => startChokidar(root));
    if (withWatchman) {
      const server = await startWatchmanServer();
      try {
        await take('watchman', () => watchmanSubscribe(server, root));
      } finally {
        await server.stop();
      }
      // Kairos on its Watchman backend, with a fresh server: the user pays for the daemon and the server.
      const server2 = await startWatchmanServer();
      const h = kairosHome(POLICY, 'watchman', server2.sock);
      try {
        await take('kairos-watchman', async () => {
          const k = await startKairos(root, h.env, h.home);
          return Object.assign(k, { extraRssMb: rssMb(server2.pid), pid: k.pid });
        });
      } finally {
        h.cleanup();
        await server2.stop();
      }
      // Raw parcel on its Watchman backend, with a fresh server: the like-for-like peer (a process and the server).
      const server3 = await startWatchmanServer();
      try {
        await take('parcel-watchman', async () => Object.assign(await startParcel(root, { watchmanSock: server3.sock }), { extraRssMb: rssMb(server3.pid) }));
      } finally {
        await server3.stop();
      }
    }
  }
  const med = (row: Row, k: keyof Sample): number | undefined => (samples[row].length ? median(samples[row].map((s) => s[k])) : undefined);
  const vals = (k: keyof Sample, rows: Row[]): Partial<Record<PeerName, number>> => {
    const out: Partial<Record<PeerName, number>> = {};
    for (const r of rows) {
      const v = med(r, k);
      if (v !== undefined) out[(r === 'kairos-restart' ? 'kairos' : r === 'parcel-restart' ? 'parcel' : r) as PeerName] = Math.round(v);
    }
    return out;
  };
  const failKairos = (row: Row): string | undefined => errors[row] ?? (samples[row].length < rounds ? `${samples[row].length} of ${rounds} runs` : undefined);
  const note = `median of ${rounds}; ${files?.toLocaleString('en') ?? '?'} files / ${kdirs?.toLocaleString('en') ?? '?'} folders watched per Kairos status`;
  const peersOnly: Row[] = ['parcel', 'chokidar', 'watchman'];
  const add = (name: string, unit: string, k: keyof Sample, row: Row, target: ReturnType<typeof ratioTarget>, ratioTo: PeerName = 'parcel', n?: string): void => {
    const failed = failKairos(row);
    res.add({ section, name, unit, values: vals(k, [row, ...peersOnly]), ratioTo, target, ...(failed ? { failed } : {}), note: n ?? note });
  };
  add('ready, first start', 'ms', 'readyMs', 'kairos', ratioTarget(1.5));
  // A restart does what raw parcel's plain subscribe does not (the offline comparison): its target is
  // against raw parcel doing the same; the ratio to a plain subscribe is printed beside it.
  res.add({
    section,
    name: 'ready, restart (offline diff vs snapshot), against raw parcel restarting the same way',
    unit: 'ms',
    values: vals('readyMs', ['kairos-restart', 'parcel-restart', 'chokidar', 'watchman']),
    ratioTo: 'parcel',
    target: ratioTarget(1.5),
    ...(failKairos('kairos-restart') ?? failKairos('parcel-restart') ? { failed: failKairos('kairos-restart') ?? failKairos('parcel-restart') } : {}),
    note: `${note}; raw parcel: subscribe, then getEventsSince its last snapshot`,
  });
  res.add({ section, name: 'ready, restart, against raw parcel\'s plain subscribe (no offline diff)', unit: 'ms', values: vals('readyMs', ['kairos-restart', ...peersOnly]), ratioTo: 'parcel', note });
  for (const row of ['kairos', 'kairos-restart'] as const) {
    const part = (k: Exclude<keyof Split, 'subscribedEarly' | 'walk'>): string => {
      const xs = splits[row].map((x) => x[k]).filter((x): x is number => x !== undefined);
      return xs.length ? String(Math.round(median(xs))) : '?';
    };
    if (part('loadMs') !== '?') res.add({ section, name: `${row === 'kairos' ? 'first start' : 'restart'}: of which spawn → first log line (node + modules)`, unit: 'ms', values: { kairos: Number(part('loadMs')) } });
    const early = splits[row].filter((x) => x.subscribedEarly).length;
    const beside = early ? ` (from the watcher's or kairos run's early start in ${early} of ${splits[row].length} runs)` : '';
    const walks = [...new Set(splits[row].map((x) => x.walk).filter((w) => w !== undefined))].join(' / ') || 'before subscribing';
    process.stdout.write(
      `  [${section}] ${row} ready split (median, from its log): spawn → 'starting' ${part('loadMs')} ms (node + modules; after the early walk when there is one), walk ${part('scanMs')} ms (${walks}), subscribe ${part('subscribeMs')} ms${beside}, offline diff ${part('offlineMs')} ms\n`,
    );
  }
  add('RSS at ready', 'MB', 'rssMb', 'kairos', ratioTarget(1.6));
  add('inotify watches at ready', 'watches', 'watches', 'kairos', maxTarget(dirs + 100, `≤ dirs+100 = ${dirs + 100}`));
  if (withWatchman) {
    const wm = (k: keyof Sample): Partial<Record<PeerName, number>> => {
      const out: Partial<Record<PeerName, number>> = {};
      const a = med('kairos-watchman', k);
      const b = med('watchman', k);
      const c = med('parcel-watchman', k);
      if (a !== undefined) out['kairos-watchman'] = Math.round(a);
      if (b !== undefined) out.watchman = Math.round(b);
      if (c !== undefined) out.parcel = Math.round(c);
      return out;
    };
    // The targets are against raw parcel on the same backend (its process and the server, as Kairos
    // pays for its own and the server); the ratios to the server alone are printed beside them.
    const failed = failKairos('kairos-watchman') ?? failKairos('parcel-watchman');
    const wmNote = 'each from a fresh private Watchman server; raw parcel: its process + the server; Watchman alone from watch-project';
    res.add({ section, name: 'ready on Watchman backend, against raw parcel on Watchman', unit: 'ms', values: wm('readyMs'), ratioTo: 'parcel', target: ratioTarget(1.5), ...(failed ? { failed } : {}), note: wmNote });
    res.add({ section, name: 'RSS at ready on Watchman backend (process + server), against raw parcel on Watchman', unit: 'MB', values: wm('rssMb'), ratioTo: 'parcel', target: ratioTarget(1.6), ...(failed ? { failed } : {}), note: wmNote });
    res.add({ section, name: 'ready on Watchman backend, against the server alone', unit: 'ms', values: wm('readyMs'), ratioTo: 'watchman', note: wmNote });
    res.add({ section, name: 'RSS at ready on Watchman backend, against the server alone', unit: 'MB', values: wm('rssMb'), ratioTo: 'watchman', note: wmNote });
  }
  return {
    readyMs: Object.fromEntries((Object.keys(samples) as Row[]).map((r) => [r, med(r, 'readyMs')])),
    rssMb: Object.fromEntries((Object.keys(samples) as Row[]).map((r) => [r, med(r, 'rssMb')])),
    watches: Object.fromEntries((Object.keys(samples) as Row[]).map((r) => [r, med(r, 'watches')])),
    ...(files !== undefined ? { kairosFiles: files } : {}),
    ...(kdirs !== undefined ? { kairosDirs: kdirs } : {}),
  };
}

/** The same figures with a big ignored node_modules, as a ratio to the tree without it ("no change beyond noise"). */
export function compareIgnored(res: Results, section: string, plain: ReadyFigures, withIgnored: ReadyFigures): void {
  const ratio = (a?: number, b?: number): number | undefined => (a !== undefined && b !== undefined && b > 0 ? Math.round((a / b) * 100) / 100 : undefined);
  const rows: Array<[string, keyof Pick<ReadyFigures, 'readyMs' | 'rssMb' | 'watches'>, number]> = [
    ['ready with 400k ignored ÷ without', 'readyMs', 1.25],
    ['RSS with 400k ignored ÷ without', 'rssMb', 1.1],
    ['watches with 400k ignored ÷ without', 'watches', 1.01],
  ];
  for (const [name, k, max] of rows) {
    const values: Partial<Record<PeerName, number>> = {};
    for (const p of ['kairos', 'parcel', 'chokidar', 'watchman'] as const) {
      const r = ratio(withIgnored[k][p], plain[k][p]);
      if (r !== undefined) values[p] = r;
    }
    res.add({ section, name, unit: '×', values, target: maxTarget(max, `≤ ${max} (noise)`), ...(values.kairos === undefined ? { failed: 'not measured' } : {}) });
  }
}
