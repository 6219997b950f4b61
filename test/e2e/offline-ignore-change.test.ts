import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeHome, kairosJson, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { fileEvents, storeQuery } from '../support/store-query.js';

/**
 * A restart subscribes at once under the ignored folders the last run saved beside its snapshot,
 * while its scan finds the list again (src/events/native-source.ts). These runs prove, on the real
 * daemon, that the early subscription is what happens, and that an ignore file edited while Kairos
 * was stopped still ends under the new rules with a correct offline report.
 */

const POLICY = `
triggers:
  - name: src
    on: { fs: ["src/**"] }
    settle_ms: 300
    run: 'true'
    notify: never
`;

interface Indexed {
  pid: number;
  msg: string;
  scan_ms: number;
  subscribe_ms: number;
  offline_ms: number;
  subscribed_early: boolean;
  resubscribed: boolean;
}

interface WatcherStatus {
  state: string;
  ignored_dirs: number;
  raw_events: number;
  offline: string;
}

function indexedLine(home: string, pid: number): Indexed {
  const lines = fs.readFileSync(path.join(home, 'logs', 'kairos.log'), 'utf8').trim().split('\n');
  const mine = lines.map((l) => JSON.parse(l) as Indexed).filter((l) => l.pid === pid && l.msg === 'indexed');
  assert.equal(mine.length, 1, `one 'indexed' line for pid ${pid}`);
  return mine[0]!;
}

function watcher(env: NodeJS.ProcessEnv): WatcherStatus {
  return kairosJson<{ repos: Array<{ watcher: WatcherStatus }> }>(['status'], env).repos[0]!.watcher;
}

async function stop(d: DaemonProcess): Promise<void> {
  d.kill('SIGTERM');
  assert.equal(await d.exited, 0);
}

const lastEventId = (home: string): number => storeQuery<{ id: number | null }>(home, 'SELECT max(id) AS id FROM events')[0]!.id ?? 0;

describe('restart: subscribing under the saved ignored folders (real daemon)', () => {
  test('a first start scans then subscribes; a restart subscribes beside its scan and keeps that subscription when the rules are unchanged', async () => {
    const h = makeHome(POLICY);
    h.env.KAIROS_WATCHER = 'native';
    const repo = makeRepo();
    try {
      repo.write('.gitignore', 'build/\n');
      repo.write('src/a.ts', 'a\n');
      repo.write('build/x.js', 'x\n');
      let d = await spawnDaemon([repo.dir], h.env);
      await stop(d);
      assert.equal(indexedLine(h.home, d.pid).subscribed_early, false, 'a first start has no saved list to subscribe under');
      const before = lastEventId(h.home);
      await new Promise((r) => setTimeout(r, 20)); // a later mtime than the snapshot's, on coarse clocks too
      repo.write('src/b.ts', 'b\n');
      repo.write('build/y.js', 'y\n');
      d = await spawnDaemon([repo.dir], h.env);
      try {
        const restart = indexedLine(h.home, d.pid);
        assert.equal(restart.subscribed_early, true, 'the restart did not subscribe under the saved list');
        assert.equal(restart.resubscribed, false, 'unchanged rules subscribed twice');
        repo.write('src/live.ts', 'l\n');
        await waitFor(() => fileEvents(h.home, `path = 'src/live.ts'`).length > 0, { what: 'live event' });
        const after = fileEvents(h.home, `id > ${before}`);
        assert.deepEqual(
          after.filter((e) => e.origin === 'offline').map((e) => `${e.type} ${e.path}`),
          ['file.added src/b.ts'],
        );
        assert.ok(!after.some((e) => e.path.startsWith('build/')), 'an ignored folder was reported');
      } finally {
        await stop(d);
      }
    } finally {
      repo.cleanup();
      h.cleanup();
    }
  });

  test('an ignore file edited while stopped: the restart re-subscribes under the new rules; the offline report is whole and nothing newly ignored is watched', async () => {
    const h = makeHome(POLICY);
    h.env.KAIROS_WATCHER = 'native';
    const repo = makeRepo();
    try {
      // gen/ ignored and out/ visible, then the other way round while Kairos is stopped.
      repo.write('.gitignore', 'gen/\n');
      repo.write('src/keep.ts', 'k\n');
      repo.write('src/gone.ts', 'g\n');
      for (let i = 0; i < 5; i++) {
        repo.write(`gen/g${i}/old.ts`, `${i}\n`);
        repo.write(`out/o${i}/old.js`, `${i}\n`);
      }
      let d = await spawnDaemon([repo.dir], h.env);
      let ignoredBefore: number;
      try {
        ignoredBefore = watcher(h.env).ignored_dirs; // gen and .git
      } finally {
        await stop(d);
      }
      const before = lastEventId(h.home);
      await new Promise((r) => setTimeout(r, 20));
      repo.write('.gitignore', 'out/\n');
      repo.write('gen/g1/old.ts', 'changed while stopped\n');
      repo.write('gen/g2/new.ts', 'new while stopped\n');
      repo.write('out/o1/old.js', 'changed while stopped\n');
      repo.write('out/o2/new.js', 'new while stopped\n');
      repo.write('src/added.ts', 'added while stopped\n');
      repo.write('src/keep.ts', 'changed while stopped\n');
      fs.rmSync(path.join(repo.dir, 'src/gone.ts'));

      d = await spawnDaemon([repo.dir], h.env);
      try {
        const line = indexedLine(h.home, d.pid);
        assert.equal(line.subscribed_early, true, 'the restart did not subscribe under the saved list');
        assert.equal(line.resubscribed, true, 'the scan found other ignored folders, but the subscription was kept');
        assert.equal(watcher(h.env).ignored_dirs, ignoredBefore, 'out and .git'); // out/ in place of gen/
        // Live: the newly visible folder is watched (a new file in an old subfolder of it is reported) ...
        repo.write('gen/g3/live.ts', 'live\n');
        await waitFor(() => fileEvents(h.home, `path = 'gen/g3/live.ts'`).length > 0, { what: 'a live event in the newly visible folder' });
        // ... and the newly ignored one is not: its writes never reach the process. The marker, written
        // after them, proves they had their chance to arrive.
        const raw = watcher(h.env).raw_events;
        for (let i = 0; i < 30; i++) repo.write(`out/o3/live${i}.js`, `${i}\n`);
        repo.write('src/marker.ts', 'm\n');
        await waitFor(() => fileEvents(h.home, `path = 'src/marker.ts'`).length > 0, { what: 'the marker' });
        const rawSince = watcher(h.env).raw_events - raw;
        assert.ok(rawSince <= 3, `${rawSince} raw changes reached the process for one visible write: the newly ignored folder is still watched`);

        const after = fileEvents(h.home, `id > ${before}`);
        const offline = after.filter((e) => e.origin === 'offline');
        const offlinePaths = offline.map((e) => e.path);
        // Everything made while stopped outside ignored folders is reported, the newly visible folder included.
        for (const p of ['src/added.ts', 'src/keep.ts', 'src/gone.ts', 'gen/g1/old.ts', 'gen/g2/new.ts']) assert.ok(offlinePaths.includes(p), `${p} missing from the offline report: ${JSON.stringify(offlinePaths)}`);
        assert.equal(offline.find((e) => e.path === 'src/gone.ts')?.type, 'file.removed');
        assert.equal(offline.find((e) => e.path === 'src/keep.ts')?.type, 'file.changed');
        assert.equal(offline.find((e) => e.path === 'gen/g2/new.ts')?.type, 'file.added');
        assert.equal(new Set(offlinePaths).size, offlinePaths.length, 'a path twice in the offline batch');
        assert.deepEqual(after.filter((e) => e.path.startsWith('out/')), [], 'the newly ignored folder was reported');
        const live = after.find((e) => e.path === 'gen/g3/live.ts')!;
        assert.ok(offline.every((e) => e.id < live.id), 'an offline event came after a live one');
      } finally {
        await stop(d);
      }
    } finally {
      repo.cleanup();
      h.cleanup();
    }
  });
});
