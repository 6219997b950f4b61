import fs from 'node:fs';
import path from 'node:path';
import type { IgnoreRules } from './ignore-rules.js';

/**
 * Files changed since `since` in the folders a storm touched (and in folders created during it)
 * that the watcher never reported. The kernel's inotify queue (fs.inotify.max_queued_events,
 * 16384 by default) overflows in a large storm and Node cannot tell; like Watchman's recrawl after
 * an overflow, but only where the storm was. Deletions missed that way stay missed.
 */
export function missedInStorm(repo: string, rules: IgnoreRules, dirs: Iterable<string>, seen: ReadonlySet<string>, since: number): string[] {
  const out: string[] = [];
  const visited = new Set<string>();
  const walk = (relDir: string, depth: number): void => {
    if (visited.has(relDir) || depth > 32) return;
    visited.add(relDir);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(repo, relDir), { withFileTypes: true });
    } catch {
      return; // removed meanwhile
    }
    for (const e of entries) {
      const rel = relDir ? `${relDir}/${e.name}` : e.name;
      if (e.isSymbolicLink() || rules.ignores(rel, e.isDirectory())) continue;
      let mtime: number;
      try {
        mtime = fs.statSync(path.join(repo, rel)).mtimeMs;
      } catch {
        // Gone since the listing (or unreadable): no change to report for it; the watcher has its delete.
        continue;
      }
      if (mtime < since) continue;
      if (e.isDirectory()) walk(rel, depth + 1); // created or changed during the storm
      else if (e.isFile() && !seen.has(rel)) out.push(rel);
    }
  };
  for (const d of dirs) walk(d, 0);
  return out.sort();
}
