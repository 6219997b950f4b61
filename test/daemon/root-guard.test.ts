/**
 * The repository folder guard works from kernel notifications, not a poll: the fallback interval is
 * an hour here, so every check the tests wait for was started by a notification (or, for the last
 * test, by the fallback when the parent folder cannot be watched).
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { guardRoot } from '../../daemon/root-guard.js';
import { waitFor } from '../support/kairos.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-rootguard-');
after(() => tmp.cleanup());
const HOUR = 3_600_000;

function setup(name: string): { repo: string; checks: () => number; close(): void } {
  const parent = path.join(tmp.dir, name);
  const repo = path.join(parent, 'repo');
  fs.mkdirSync(path.join(repo, '.git'), { recursive: true });
  let n = 0;
  const g = guardRoot(repo, () => n++, { fallbackMs: HOUR, debounceMs: 20 });
  return { repo, checks: () => n, close: () => g.close() };
}

describe('guardRoot (a repository folder deleted, replaced, re-created)', () => {
  test('deleting the folder, creating it again and its .git appearing each lead to a check', async () => {
    const s = setup('delete');
    try {
      fs.rmSync(s.repo, { recursive: true });
      await waitFor(() => s.checks() >= 1 || null, { what: 'a check after the delete' });
      const afterDelete = s.checks();
      fs.mkdirSync(s.repo);
      await waitFor(() => s.checks() > afterDelete || null, { what: 'a check after the folder came back' });
      const afterCreate = s.checks();
      // The clone's .git comes after the folder: the guard now watches the new folder too.
      fs.mkdirSync(path.join(s.repo, '.git'));
      await waitFor(() => s.checks() > afterCreate || null, { what: 'a check after .git appeared' });
    } finally {
      s.close();
    }
  });

  test('a folder replaced by a rename, and a .git removed inside it, lead to a check', async () => {
    const s = setup('rename');
    try {
      const other = path.join(path.dirname(s.repo), 'other');
      fs.mkdirSync(path.join(other, '.git'), { recursive: true });
      fs.rmSync(s.repo, { recursive: true });
      fs.renameSync(other, s.repo);
      await waitFor(() => s.checks() >= 1 || null, { what: 'a check after the replace' });
      const before = s.checks();
      fs.rmSync(path.join(s.repo, '.git'), { recursive: true });
      await waitFor(() => s.checks() > before || null, { what: 'a check after .git was removed' });
    } finally {
      s.close();
    }
  });

  test('files changing inside the folder or beside it do not lead to a check; only the repository entry does', async () => {
    const parent = path.join(tmp.dir, 'quiet');
    const repo = path.join(parent, 'repo');
    fs.mkdirSync(path.join(repo, '.git'), { recursive: true });
    let n = 0;
    // No debounce: a check an ignored write led to would be counted on its own.
    const g = guardRoot(repo, () => n++, { fallbackMs: HOUR, debounceMs: 0 });
    // libuv reads one inotify queue for every fs.watch of the process: once this watcher has seen the
    // last write, the guard's watchers have been handed every write too, and a timer set after that
    // runs after any zero-delay check they led to.
    const seen = new Set<string>();
    const own = [fs.watch(repo, (_t, f) => f && seen.add(String(f))), fs.watch(parent, (_t, f) => f && seen.add(String(f)))];
    try {
      for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(repo, `f${i}.txt`), 'x');
      fs.writeFileSync(path.join(parent, 'sibling.txt'), 'x');
      await waitFor(() => (seen.has('f19.txt') && seen.has('sibling.txt')) || null, { what: 'the writes seen' });
      await new Promise((r) => setTimeout(r, 5));
      assert.equal(n, 0, 'no check for files inside the folder or beside it');
      fs.rmSync(path.join(repo, '.git'), { recursive: true });
      await waitFor(() => n >= 1 || null, { what: 'a check after .git was removed' });
    } finally {
      for (const w of own) w.close();
      g.close();
    }
  });

  test('when the parent folder cannot be watched, the fallback looks every fallbackMs', async () => {
    const repo = path.join(tmp.dir, 'no-parent', 'repo');
    let n = 0;
    const g = guardRoot(repo, () => n++, { fallbackMs: 50, debounceMs: 10 });
    try {
      await waitFor(() => n >= 2 || null, { what: 'two fallback checks' });
      // Once the parent exists, the watch takes over: the repository appearing is a check.
      fs.mkdirSync(path.dirname(repo));
      await waitFor(() => n >= 3 || null, { what: 'a check after the parent appeared' });
    } finally {
      g.close();
    }
  });
});
