/**
 * Idle: every watcher on the same tree at once, and once all of them have gone QUIET_SECONDS in a row
 * without a CPU tick (start-up and its garbage collection are over), their CPU ticks over the same
 * IDLE_SECONDS window. Nothing polls the daemon meanwhile (no status calls).
 */
import { IDLE_SECONDS, QUIET_MAX_SECONDS, QUIET_SECONDS } from './config.js';
import { kairosHome } from './env.js';
import { procSample, rssMb, sleep, waitQuiet } from './measure.js';
import { startChokidar, startKairos, startParcel, startWatchmanServer, watchmanSubscribe, type Peer, type WatchmanServer } from './peers.js';
import { maxTarget, type PeerName, type Results } from './table.js';

const POLICY = `
triggers:
  - name: src
    on: { fs: ["src/**"] }
    settle_ms: 200
    run: 'true'
    notify: never
`;

export async function measureIdle(res: Results, section: string, root: string, withWatchman: boolean): Promise<void> {
  const h = kairosHome(POLICY, 'native');
  const peers: Partial<Record<PeerName, Peer>> = {};
  let server: WatchmanServer | undefined;
  const name = `CPU ticks over ${IDLE_SECONDS} s idle, after a ${QUIET_SECONDS} s quiet window`;
  try {
    peers.kairos = await startKairos(root, h.env, h.home);
    peers.parcel = await startParcel(root);
    peers.chokidar = await startChokidar(root);
    if (withWatchman) {
      server = await startWatchmanServer();
      peers.watchman = await watchmanSubscribe(server, root);
    }
    const pids = Object.fromEntries(Object.entries(peers).map(([k, p]) => [k, p.pid]));
    const { waitedMs, notQuiet } = await waitQuiet(pids, QUIET_SECONDS, QUIET_MAX_SECONDS);
    const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procSample(pid).cpuTicks]));
    await sleep(IDLE_SECONDS * 1000);
    const ticks: Partial<Record<PeerName, number>> = {};
    const rss: Partial<Record<PeerName, number>> = {};
    for (const [k, pid] of Object.entries(pids)) {
      ticks[k as PeerName] = procSample(pid).cpuTicks - before[k]!;
      rss[k as PeerName] = rssMb(pid);
    }
    const quietNote = notQuiet.length ? `no quiet window within ${QUIET_MAX_SECONDS} s for ${notQuiet.join(', ')}; measured anyway` : `quiet window reached ${Math.round(waitedMs / 1000)} s after all were ready`;
    res.add({ section, name, unit: 'ticks', values: ticks, target: maxTarget(0, '= 0'), note: `${quietNote}; 1 tick = 10 ms` });
    res.add({ section, name: 'RSS after the idle window', unit: 'MB', values: rss, note: 'for reference' });
  } catch (e) {
    res.fail(section, name, 'ticks', (e as Error).message.split('\n')[0]!, maxTarget(0, '= 0'));
  } finally {
    for (const p of Object.values(peers)) await p.stop().catch(() => undefined);
    await server?.stop();
    h.cleanup();
  }
}
