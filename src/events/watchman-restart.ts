import fs from 'node:fs';
import path from 'node:path';
import type { RawChange } from './disk-check.js';
import type { NativeTree } from './native-tree.js';
import type { TreeSnapshot } from './tree-snapshot.js';

/** Watchman clocks read `c:<server start>:<server pid>:<root>:<ticks>`: the same server if the first two match. */
export async function sameWatchmanServer(tree: NativeTree, snapshot: TreeSnapshot): Promise<boolean> {
  const scratch = snapshot.scratch('clock');
  try {
    await tree.writeSnapshot(scratch);
    const server = (clock: string): string => clock.trim().split(':').slice(0, 3).join(':');
    return server(fs.readFileSync(snapshot.file, 'utf8')) === server(fs.readFileSync(scratch, 'utf8'));
  } catch {
    // Cannot tell: not the same server, so the safe path (a full rescan) follows. Nothing is lost.
    return false;
  } finally {
    fs.rmSync(scratch, { force: true });
  }
}

/** Of a fresh Watchman listing (everything "created"), the paths whose inode changed after `since`, as changes. */
export function changedAfter(repo: string, changes: readonly RawChange[], since: number): RawChange[] {
  const out: RawChange[] = [];
  for (const c of changes) {
    try {
      const st = fs.lstatSync(path.join(repo, c.rel));
      if (!st.isDirectory() && Math.max(st.mtimeMs, st.ctimeMs) > since) out.push({ rel: c.rel, kind: 'update' });
    } catch {
      // gone: nothing to say without a list of what was there
    }
  }
  return out;
}
