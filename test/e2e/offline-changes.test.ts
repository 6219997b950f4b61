import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeHome, kairosJson, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { makeRepo, type TestRepo } from '../support/git-repo.js';
import { fileEvents, storeQuery } from '../support/store-query.js';
import { startWatchman, watchmanMissing, type PrivateWatchman } from '../support/watchman.js';

interface TaskJson { id: number; trigger: string; state: string; paths: string[] }

const POLICY = `
triggers:
  - name: src
    on: { fs: ["src/**"] }
    settle_ms: 500
    run: 'true'
    notify: never
`;

async function stop(d: DaemonProcess): Promise<void> {
  d.kill('SIGTERM');
  await d.exited;
}

/** 1,000 paths: 400 files kept, 300 changed, 300 deleted, then 300 added (the brief's "write, change and delete 1,000 files"). */
function seed(repo: TestRepo): void {
  for (let i = 0; i < 1000; i++) repo.write(`src/d${i % 20}/f${i}.ts`, `${i}\n`);
}

function changeWhileStopped(repo: TestRepo): { added: string[]; changed: string[]; removed: string[] } {
  const added: string[] = [];
  const changed: string[] = [];
  const removed: string[] = [];
  for (let i = 400; i < 700; i++) {
    repo.write(`src/d${i % 20}/f${i}.ts`, `changed ${i}\n`);
    changed.push(`src/d${i % 20}/f${i}.ts`);
  }
  for (let i = 700; i < 1000; i++) {
    fs.rmSync(path.join(repo.dir, `src/d${i % 20}/f${i}.ts`));
    removed.push(`src/d${i % 20}/f${i}.ts`);
  }
  for (let i = 0; i < 300; i++) {
    repo.write(`src/new${i % 10}/n${i}.ts`, `new ${i}\n`);
    added.push(`src/new${i % 10}/n${i}.ts`);
  }
  return { added, changed, removed };
}

function offlineCase(engine: 'native' | 'watchman', extraEnv: () => NodeJS.ProcessEnv): void {
  test(`${engine}: adds, changes and deletes made while stopped are reported on start, once, as origin: offline, in one batch`, async () => {
    const h = makeHome(POLICY);
    Object.assign(h.env, { KAIROS_WATCHER: engine }, extraEnv());
    const repo = makeRepo();
    try {
      seed(repo);
      let d = await spawnDaemon([repo.dir], h.env);
      await stop(d);
      const lastBefore = storeQuery<{ id: number | null }>(h.home, 'SELECT max(id) AS id FROM events')[0]!.id ?? 0;
      await new Promise((r) => setTimeout(r, 20)); // mtimes after the snapshot's, on coarse clocks too
      const { added, changed, removed } = changeWhileStopped(repo);
      d = await spawnDaemon([repo.dir], h.env);
      try {
        repo.write('src/live.ts', 'live\n'); // proof that live events flow, and come after the offline ones
        await waitFor(() => fileEvents(h.home, `path = 'src/live.ts'`).length > 0, { what: 'live event' });
        const after = fileEvents(h.home, `id > ${lastBefore}`);
        const offline = after.filter((e) => e.origin === 'offline');
        const live = after.find((e) => e.path === 'src/live.ts')!;
        assert.equal(live.origin, 'user');
        assert.ok(offline.every((e) => e.id < live.id), 'an offline event came after a live one');
        const byType = (t: string): string[] => offline.filter((e) => e.type === t).map((e) => e.path).sort();
        assert.deepEqual(byType('file.added'), [...added].sort());
        assert.deepEqual(byType('file.changed'), [...changed].sort());
        assert.deepEqual(byType('file.removed').filter((p) => p.endsWith('.ts')), [...removed].sort());
        assert.equal(new Set(offline.map((e) => e.path)).size, offline.length, 'a path twice in the offline batch');
        // The trigger fires once for the offline batch (the live write may join it or follow it).
        const all = new Set([...added, ...changed, ...removed]);
        const tasks = await waitFor(() => {
          const ts = kairosJson<TaskJson[]>(['tasks'], h.env);
          return ts.some((t) => t.paths.some((p) => all.has(p))) && ts.every((t) => t.state === 'done') ? ts : null;
        }, { what: 'tasks done' });
        const withOffline = tasks.filter((t) => t.paths.some((p) => all.has(p)));
        assert.equal(withOffline.length, 1, 'the offline batch fired the trigger more than once');
        assert.deepEqual([...all].filter((p) => !withOffline[0]!.paths.includes(p)), [], 'offline paths missing from the batch');
        const status = kairosJson<{ repos: Array<{ watcher: { engine: string; offline: string } }> }>(['status'], h.env);
        assert.equal(status.repos[0]!.watcher.engine, engine);
        assert.match(status.repos[0]!.watcher.offline, /^\d+ changes made while Kairos was not watching/);
      } finally {
        await stop(d);
      }
    } finally {
      repo.cleanup();
      h.cleanup();
    }
  });
}

describe('offline changes (real daemon)', () => {
  offlineCase('native', () => ({}));

  describe('with Watchman', { skip: watchmanMissing() ?? false }, () => {
    let wm: PrivateWatchman | undefined;
    before(async () => (wm = await startWatchman()));
    after(async () => wm?.stop());
    offlineCase('watchman', () => ({ WATCHMAN_SOCK: wm!.sock }));
  });

  test('native: files written around a SIGKILL are all in the store after the restart; none twice in one batch', async () => {
    const h = makeHome(POLICY);
    h.env.KAIROS_WATCHER = 'native';
    const repo = makeRepo();
    try {
      repo.write('src/.keep', '');
      let d = await spawnDaemon([repo.dir], h.env);
      const written: string[] = [];
      const write = (i: number): void => {
        const rel = `src/k${i % 30}/f${i}.ts`;
        repo.write(rel, `${i}\n`);
        written.push(rel);
      };
      for (let i = 0; i < 500; i++) write(i);
      await waitFor(() => fileEvents(h.home).length > 100, { what: 'some events stored live' });
      for (let i = 500; i < 1000; i++) {
        if (i === 750) d.kill('SIGKILL');
        write(i);
      }
      assert.equal(await d.exited, 'SIGKILL');
      for (let i = 1000; i < 1500; i++) write(i);
      d = await spawnDaemon([repo.dir], h.env);
      try {
        repo.write('src/marker.ts', 'm');
        await waitFor(() => fileEvents(h.home, `path = 'src/marker.ts'`).length > 0, { what: 'live after restart' });
        const stored = new Set(fileEvents(h.home).map((e) => e.path));
        assert.deepEqual(written.filter((p) => !stored.has(p)), [], 'paths never recorded');
        // The offline batch is one ingest: no path in it twice.
        const offline = fileEvents(h.home, `origin = 'offline'`).map((e) => e.path);
        assert.ok(offline.length > 0, 'nothing reported as offline after a SIGKILL');
        assert.equal(new Set(offline).size, offline.length, 'a path twice in the offline batch');
      } finally {
        await stop(d);
      }
    } finally {
      repo.cleanup();
      h.cleanup();
    }
  });
});
