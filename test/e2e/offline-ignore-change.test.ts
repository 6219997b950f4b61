import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeHome, kairosJson, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { fileEvents, storeQuery } from '../support/store-query.js';

/**
 * A restart subscribes at once under the ignored folders the last run saved beside its snapshot
 * (src/events/native-source.ts) and walks the tree before it is ready only when something says the
 * rules changed while it was stopped (src/events/saved-ignores.ts); otherwise the walk follows ready.
 * These runs prove, on the real daemon, that the early subscription is what happens, that an ignore
 * file edited while Kairos was stopped still ends under the new rules with a correct offline report,
 * and that a folder made meanwhile that a pattern ignores stops being watched after the walk.
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
  walk?: string;
  why?: string;
  early_subscription?: boolean;
  early_offline?: boolean;
}

interface WatcherStatus {
  state: string;
  ignored_dirs: number;
  raw_events: number;
  offline: string;
}

function logLines(home: string, pid: number, msg: string): Indexed[] {
  const lines = fs.readFileSync(path.join(home, 'logs', 'kairos.log'), 'utf8').trim().split('\n');
  return lines.map((l) => JSON.parse(l) as Indexed).filter((l) => l.pid === pid && l.msg === msg);
}

function indexedLine(home: string, pid: number): Indexed {
  const mine = logLines(home, pid, 'indexed');
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
  test('a first start scans then subscribes; a restart subscribes under the saved list at once, keeps it when the rules are unchanged, and walks only after ready', async () => {
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
        assert.equal(restart.walk, 'after ready', 'nothing said the rules changed, yet the restart walked the tree before it was ready');
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
        assert.equal(line.walk, 'before subscribing', 'the offline changes include .gitignore: the rules are walked again before ready');
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

  test('a folder made while stopped that a pattern ignores: ready without a walk; the walk after it stops watching the folder; nothing from it is stored', async () => {
    const h = makeHome(POLICY);
    h.env.KAIROS_WATCHER = 'native';
    const repo = makeRepo();
    try {
      repo.write('.gitignore', 'build/\n');
      repo.write('src/a.ts', 'a\n');
      let d = await spawnDaemon([repo.dir], h.env);
      await stop(d);
      const before = lastEventId(h.home);
      await new Promise((r) => setTimeout(r, 20)); // a later mtime than the snapshot's, on coarse clocks too
      for (let i = 0; i < 5; i++) repo.write(`build/b${i}/out.js`, `${i}\n`);
      repo.write('src/b.ts', 'b\n');

      // Without --repo, as the service unit runs it: the store's list is begun early too.
      d = await spawnDaemon([], h.env);
      try {
        const line = indexedLine(h.home, d.pid);
        assert.equal(line.walk, 'after ready', 'no ignore input changed: ready before the walk');
        assert.equal(line.early_subscription, true, "the repository the last run watched was not begun by kairos run's early start");
        assert.equal(line.early_offline, true, 'the offline comparison was not the early one');
        const walked = await waitFor(() => logLines(h.home, d.pid, 'ignore rules reloaded').find((l) => l.why === 'the walk after a restart'), { what: 'the walk after the restart' });
        assert.equal(walked.resubscribed, true, 'the walk found build/ ignored and should have re-subscribed without it');
        const w = watcher(h.env);
        assert.equal(w.ignored_dirs, 2, '.git and build');
        // The folder's writes no longer reach the process: the marker, written after them, proves they had their chance.
        const raw = w.raw_events;
        for (let i = 0; i < 30; i++) repo.write(`build/b1/live${i}.js`, `${i}\n`);
        repo.write('src/marker.ts', 'm\n');
        await waitFor(() => fileEvents(h.home, `path = 'src/marker.ts'`).length > 0, { what: 'the marker' });
        const rawSince = watcher(h.env).raw_events - raw;
        assert.ok(rawSince <= 3, `${rawSince} raw changes reached the process for one visible write: build/ is still watched`);
        const after = fileEvents(h.home, `id > ${before}`);
        assert.deepEqual(after.filter((e) => e.origin === 'offline').map((e) => `${e.type} ${e.path}`), ['file.added src/b.ts']);
        assert.deepEqual(after.filter((e) => e.path.startsWith('build/')), [], 'the ignored folder was reported');
      } finally {
        await stop(d);
      }
    } finally {
      repo.cleanup();
      h.cleanup();
    }
  });
});
