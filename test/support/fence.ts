import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from './kairos.js';
import { storeQuery } from './store-query.js';
import type { TestRepo } from './git-repo.js';

let fences = 0;

/**
 * Proof that the daemon has dealt with everything that happened in `repo` before this call: writes a
 * fence file, waits until its event is stored (the watcher delivers a repository's changes in order,
 * so every earlier change is stored too), then until no stored event is unsettled (a settled event has
 * had its task created in the same transaction, or was found to match nothing). A test that asserts
 * something did NOT happen asserts it after this, instead of after a sleep.
 *
 * The fence's name must match no trigger under test: pass one outside the triggers' globs. The file is
 * removed again afterwards, so the tree is as it was (its deletion is one more event matching nothing).
 */
export async function fence(repo: TestRepo, home: string, rel = `kairos-fence-${process.pid}-${++fences}.txt`): Promise<void> {
  repo.write(rel, 'fence\n');
  await waitFor(() => storeQuery(home, "SELECT 1 FROM events WHERE type LIKE 'file.%' AND path = ?", rel).length > 0, { what: `the fence file ${rel} stored as an event` });
  await allSettled(home);
  fs.rmSync(path.join(repo.dir, rel));
}

/** Waits until every stored event is settled (no batch is still gathering). */
export async function allSettled(home: string): Promise<void> {
  await waitFor(() => storeQuery(home, 'SELECT 1 FROM events WHERE settled_at IS NULL LIMIT 1').length === 0, { what: 'every stored event settled' });
}
