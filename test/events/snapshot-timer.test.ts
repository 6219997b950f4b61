/**
 * The native watcher's snapshot timer is armed by a change, not ticking on its own: a change made
 * while the daemon runs still reaches the snapshot on disk within the interval, without a stop (the
 * snapshot a SIGKILL leaves behind), and the recovery after a crash compares with it.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { watchFiles } from '../../src/events/fs-source.js';
import { TreeSnapshot } from '../../src/events/tree-snapshot.js';
import type { EventDraft } from '../../src/events/event.js';
import { tempDir } from '../support/temp.js';
import { waitFor } from '../support/kairos.js';

const tmp = tempDir('kairos-snaptimer-');
after(() => tmp.cleanup());

describe('native snapshot timer (armed by a change)', () => {
  test('a live change is in the snapshot within the interval, with no stop', async () => {
    const repo = path.join(tmp.dir, 'repo');
    fs.mkdirSync(path.join(repo, '.git'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'a.ts'), 'a');
    const snapshotDir = path.join(tmp.dir, 'snapshots');
    const env = { ...process.env, KAIROS_WATCHER: 'native' };
    const seen: EventDraft[] = [];
    const w = watchFiles({ repo, env, snapshotDir, snapshotIntervalMs: 300, onEvents: (d) => seen.push(...d), onError: (e) => assert.fail(e) });
    try {
      await w.ready;
      assert.equal(w.status().engine, 'native');
      const snap = new TreeSnapshot(snapshotDir, repo, 'inotify');
      const written = (): string | null => {
        const b = snap.baseline();
        return b.usable ? b.writtenAt : null;
      };
      // The baseline written right after start.
      const first = await waitFor(written, { what: 'the start-up snapshot' });
      fs.writeFileSync(path.join(repo, 'b.ts'), 'b');
      await waitFor(() => seen.some((e) => 'path' in e && e.path === 'b.ts') || null, { what: 'the live event' });
      await waitFor(() => ((written() ?? '') > first ? true : null), { what: 'the snapshot written after the change', timeoutMs: 20_000 });
      // As after a SIGKILL: another watcher starts from that snapshot while this one never stopped. b.ts is
      // in it, so nothing is reported as changed offline (without the timed write, b.ts would be "added").
      const offline: EventDraft[] = [];
      const w2 = watchFiles({ repo, env, snapshotDir: path.join(tmp.dir, 'snapshots'), onEvents: (d) => offline.push(...d), onError: (e) => assert.fail(e) });
      await w2.ready;
      await w2.close();
      assert.match(w2.status().offline, /^0 changes/);
      assert.deepEqual(offline, []);
    } finally {
      await w.close();
    }
  });
});
