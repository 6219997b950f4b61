/**
 * The storm is a real git operation: `git checkout` between two branches that differ in STORM_FILES
 * files (60 % changed, 20 % deleted, 20 % added). Kairos must store one git.checkout and one batch of
 * its fs trigger holding every changed path; a lost path fails the run. Raw @parcel/watcher and
 * Watchman watch the same checkout, and the paths each reported are counted beside Kairos's.
 * "One batch" is proved by a later write: once the batch that follows it is stored, no other batch
 * of the checkout can still come.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeRepo } from '../../test/support/git-repo.js';
import { SETTLE_MS, STORM_FILES } from './config.js';
import { kairosHome, markerStarts, markerTrigger, scratch } from './env.js';
import { until } from './measure.js';
import { startKairos, startParcel, startWatchmanServer, watchmanPaths, watchmanSubscribe, type KairosDaemon, type Peer, type WatchmanServer } from './peers.js';
import { maxTarget, type PeerName, type Results } from './table.js';

const f = (i: number): string => `storm/d${Math.floor(i / 250)}/f${i}.ts`;

export async function measureStorm(res: Results, section: string, withWatchman: boolean): Promise<void> {
  const N = STORM_FILES;
  const marks = scratch('storm');
  const marker = path.join(marks.dir, 'starts');
  const h = kairosHome(`triggers:\n${markerTrigger('storm', 'storm/**', SETTLE_MS, marker)}`, 'native');
  const repo = makeRepo();
  let d: KairosDaemon | undefined;
  let parcel: Peer | undefined;
  let wm: Peer | undefined;
  let server: WatchmanServer | undefined;
  const name = `git checkout of ${N.toLocaleString('en')} differing files: paths in the stored batch`;
  try {
    // main: N*0.8 files; other: 60 % of them changed, 20 % deleted, N*0.2 new.
    const base = Math.round(N * 0.8);
    const files: Record<string, string> = {};
    for (let i = 0; i < base; i++) files[f(i)] = `export const v${i} = ${i};\n`;
    repo.commit('main tree', files);
    repo.git('checkout', '-q', '-b', 'other');
    const changed = Math.round(N * 0.6);
    const expected = new Set<string>();
    const other: Record<string, string> = {};
    for (let i = 0; i < changed; i++) {
      other[f(i)] = `export const v${i} = ${i + 1};\n`;
      expected.add(f(i));
    }
    for (let i = base; i < base + (N - base); i++) {
      other[f(i)] = `export const v${i} = ${i};\n`;
      expected.add(f(i));
    }
    repo.commit('other tree', other);
    const dels: string[] = [];
    for (let i = changed; i < base; i++) dels.push(f(i));
    for (let i = 0; i < dels.length; i += 1000) repo.git('rm', '-q', ...dels.slice(i, i + 1000));
    for (const p of dels) expected.add(p);
    repo.git('commit', '-q', '-m', 'other deletes');
    repo.git('checkout', '-q', 'main');
    if (expected.size !== N) throw new Error(`the branches differ in ${expected.size} files, not ${N}`);

    d = await startKairos(repo.dir, h.env, h.home);
    parcel = await startParcel(repo.dir, { print: true });
    if (withWatchman) {
      server = await startWatchmanServer();
      wm = await watchmanSubscribe(server, repo.dir);
    }
    const db = new Database(path.join(h.home, 'kairos.db'), { readonly: true });
    try {
      const lastBatch = db.prepare("SELECT coalesce(max(id), 0) FROM batches WHERE trigger = 'storm'").pluck().get() as number;
      const lastEvent = db.prepare('SELECT coalesce(max(id), 0) FROM events').pluck().get() as number;
      const t0 = Date.now();
      repo.git('checkout', '-q', 'other');
      const checkedOut = Date.now();
      const batches = db.prepare("SELECT id, created_at, paths FROM batches WHERE trigger = 'storm' AND id > ? ORDER BY id");
      type B = { id: number; created_at: string; paths: string };
      const first = await until(() => (batches.all(lastBatch) as B[])[0], 'the checkout\'s first batch', 300_000, 100);
      // The proof that no later batch of the checkout is coming: a write after it, batched after it.
      const sentinel = 'storm/zz-sentinel.txt';
      repo.write(sentinel, 'after the checkout\n');
      await until(() => (batches.all(lastBatch) as B[]).some((b) => (JSON.parse(b.paths) as string[]).includes(sentinel)), 'the batch of the write after the checkout', 120_000, 100);
      const all = batches.all(lastBatch) as B[];
      const union = new Set<string>();
      let holding = 0;
      const sizes: string[] = [];
      for (const b of all) {
        const ps = JSON.parse(b.paths) as string[];
        const mine = ps.filter((p) => expected.has(p)).length;
        if (mine) {
          holding++;
          sizes.push(`${mine} at +${Date.parse(b.created_at) - checkedOut} ms`);
        }
        for (const p of ps) union.add(p);
      }
      const lost = [...expected].filter((p) => !union.has(p));
      const checkouts = db.prepare("SELECT count(*) FROM events WHERE id > ? AND type = 'git.checkout'").pluck().get(lastEvent) as number;
      const start = markerStarts(marker)[0];

      // The peers: what they reported of the checkout (they may still be delivering: give them until they have it all, or 30 s).
      const seen: Partial<Record<PeerName, number>> = { kairos: expected.size - lost.length };
      const parcelSeen = (): number => new Set(parcel!.lines.map((l) => l.slice(l.indexOf(' ') + 1)).filter((p) => expected.has(p))).size;
      const wmSeen = (): number => new Set(watchmanPaths(wm?.lines ?? []).filter((p) => expected.has(p))).size;
      await until(() => parcelSeen() >= N && (!wm || wmSeen() >= N), 'the peers to report the checkout', 30_000, 200).catch(() => undefined);
      seen.parcel = parcelSeen();
      if (wm) seen.watchman = wmSeen();

      res.add({
        section,
        name,
        unit: 'paths',
        values: seen,
        target: { text: `= ${N.toLocaleString('en')} (none lost)`, ok: (k) => k === N },
        ...(lost.length ? { failed: `${lost.length} changed path(s) in no batch, e.g. ${lost.slice(0, 3).join(', ')}` } : {}),
        note: `checkout took ${checkedOut - t0} ms`,
      });
      res.add({ section, name: 'batches holding the checkout\'s paths', unit: 'batches', values: { kairos: holding }, target: maxTarget(1, '= 1'), note: `checkout paths per batch: ${sizes.join(', ')}` });
      res.add({ section, name: 'git.checkout events stored', unit: 'events', values: { kairos: checkouts }, target: { text: '= 1', ok: (k) => k === 1 } });
      res.add({ section, name: 'checkout end → batch stored, beyond settle_ms', unit: 'ms', values: { kairos: Date.parse(first.created_at) - checkedOut - SETTLE_MS }, note: start ? `command started ${Math.round(start - checkedOut)} ms after the checkout ended` : 'command start not seen' });
    } finally {
      db.close();
    }
  } catch (e) {
    res.fail(section, name, 'paths', (e as Error).message.split('\n')[0]!);
  } finally {
    await d?.stop().catch(() => undefined);
    await parcel?.stop().catch(() => undefined);
    await wm?.stop().catch(() => undefined);
    await server?.stop();
    h.cleanup();
    repo.cleanup();
    marks.cleanup();
  }
}
