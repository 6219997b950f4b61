/**
 * A repository folder swapped for another clone by two renames (`mv repo repo.old && mv clone repo`,
 * what a script that re-clones atomically does) under the real daemon: the folder guard is told by
 * the kernel (no poll), sees the folder replaced, and watches the new one, although both renames
 * come within one debounce and nothing tells it again afterwards.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeHome, kairosJson, spawnDaemon, waitFor } from '../support/kairos.js';
import { makeRepo, runGit } from '../support/git-repo.js';
import { fileEvents } from '../support/store-query.js';

interface StatusJson { repos: Array<{ path: string; watcher: { state: string; error: string | null } }> }

const POLICY = `
triggers:
  - name: src
    on: { fs: ["src/**"] }
    settle_ms: 200
    run: 'true'
    notify: never
`;

describe('a repository folder replaced by renames (real daemon)', () => {
  test('native: the new folder is noticed and watched again', async () => {
    const h = makeHome(POLICY);
    h.env.KAIROS_WATCHER = 'native';
    const repo = makeRepo();
    const clone = `${repo.dir}-clone`;
    const old = `${repo.dir}-old`;
    try {
      repo.commit('base', { 'src/base.ts': 'b' });
      runGit(path.dirname(repo.dir), ['clone', '-q', repo.dir, clone]);
      const d = await spawnDaemon([repo.dir], h.env);
      try {
        fs.renameSync(repo.dir, old);
        fs.renameSync(clone, repo.dir);
        await waitFor(() => /the folder was replaced/.test(fs.readFileSync(path.join(h.home, 'logs', 'kairos.log'), 'utf8')) || null, { what: 'the replace logged' });
        // Watched, not merely shown so: a write in the new folder becomes an event (the old watch, on the
        // folder moved aside, would never see it).
        await waitFor(() => {
          fs.writeFileSync(path.join(repo.dir, 'src/after.ts'), String(Date.now()));
          return fileEvents(h.home, `path = 'src/after.ts'`).length > 0 || null;
        }, { what: 'an event from the new folder', intervalMs: 500 });
        assert.equal(kairosJson<StatusJson>(['status'], h.env).repos[0]!.watcher.state, 'watching');
      } finally {
        d.kill('SIGTERM');
        await d.exited;
      }
    } finally {
      for (const p of [clone, old]) fs.rmSync(p, { recursive: true, force: true });
      repo.cleanup();
      h.cleanup();
    }
  });
});
