/**
 * After a SIGKILL, a start replays the events stored but never settled, and its offline comparison
 * (against the snapshot of before them) finds the same paths changed. Both land in the batch the
 * restart settles: a path the replay already carries, found on disk as its stored event left it,
 * must not be reported a second time (issue 11: "every path is reported after restart, none twice in
 * one batch"). Real daemon, real kill, real store.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeHome, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { fileEvents, storeQuery } from '../support/store-query.js';

// A long settle: the events made before the kill are stored and still unsettled when it comes.
const POLICY = `
triggers:
  - name: src
    on: { fs: ["src/**"] }
    settle_ms: 4000
    run: 'true'
    notify: never
`;

describe('a SIGKILL, then a restart: the replay and the offline comparison (real daemon)', () => {
  test('every path changed before and after the kill is in a batch; the offline report repeats none of them in one', async () => {
    const h = makeHome(POLICY);
    h.env.KAIROS_WATCHER = 'native';
    const repo = makeRepo();
    // Whichever daemon runs when an assertion fails is stopped too: a daemon left running keeps the test process alive.
    let d: DaemonProcess | undefined;
    try {
      for (let i = 0; i < 60; i++) repo.write(`src/f${i}.ts`, `${i}\n`);
      d = await spawnDaemon([repo.dir], h.env);
      const before = storeQuery<{ id: number | null }>(h.home, 'SELECT max(id) AS id FROM events')[0]!.id ?? 0;
      // Before the kill: changes and deletes, stored and not yet settled.
      for (let i = 0; i < 20; i++) repo.write(`src/f${i}.ts`, `changed ${i}\n`);
      for (let i = 20; i < 30; i++) fs.rmSync(path.join(repo.dir, `src/f${i}.ts`));
      // A folder made before the kill: the offline comparison reports the folder, and its files are
      // found by listing it, not by the comparison itself.
      for (let i = 0; i < 5; i++) repo.write(`src/made/m${i}.ts`, `${i}\n`);
      await waitFor(() => fileEvents(h.home, `id > ${before}`).length >= 35, { what: 'the 35 events stored' });
      const unsettled = storeQuery<{ n: number }>(h.home, `SELECT count(*) AS n FROM events WHERE id > ${before} AND settled_at IS NULL`)[0]!.n;
      assert.ok(unsettled >= 35, `the kill must come while the events are unsettled (${unsettled} unsettled)`);
      d.kill('SIGKILL');
      await d.exited;
      d = undefined;
      // While dead: more changes, one of them to a path changed before the kill.
      repo.write('src/f0.ts', 'changed again while dead\n');
      for (let i = 30; i < 40; i++) repo.write(`src/f${i}.ts`, `dead ${i}\n`);
      repo.write('src/new.ts', 'new\n');

      d = await spawnDaemon([repo.dir], h.env);
      const expected = [...Array.from({ length: 40 }, (_, i) => `src/f${i}.ts`), ...Array.from({ length: 5 }, (_, i) => `src/made/m${i}.ts`), 'src/new.ts'];
      const batched = (): Array<{ batch_id: number; path: string }> =>
        storeQuery(h.home, `SELECT be.batch_id, e.path FROM batch_events be JOIN events e ON e.id = be.event_id WHERE be.trigger = 'src' AND e.id > ${before}`);
      await waitFor(() => expected.every((p) => batched().some((r) => r.path === p)), { timeoutMs: 60_000, what: 'every path in a batch' });
      const twice = storeQuery<{ pair: string }>(
        h.home,
        `SELECT be.batch_id || ' ' || e.path || ': ' || group_concat(e.id || ' ' || e.type || '/' || e.origin, ' + ') AS pair FROM batch_events be JOIN events e ON e.id = be.event_id WHERE be.trigger = 'src' AND e.id > ${before} GROUP BY be.batch_id, e.path HAVING count(*) > 1 AND sum(e.origin = 'offline') > 0`,
      ).map((r) => r.pair);
      // Only the offline report's repeats are this test's subject: one live write seen in two deliveries
      // (its first part, then the rest) is two events of the user's, before the kill, whatever this fixes.
      assert.deepEqual(twice, [], 'the offline report repeated a path already in the batch');
      const removed = fileEvents(h.home, `id > ${before} AND path = 'src/f25.ts'`).at(-1);
      assert.equal(removed?.type, 'file.removed');
    } finally {
      if (d) {
        d.kill('SIGTERM');
        await d.exited;
      }
      repo.cleanup();
      h.cleanup();
    }
  });
});
