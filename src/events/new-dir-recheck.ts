import fs from 'node:fs';
import path from 'node:path';
import type { RawChange } from './disk-check.js';
import type { IgnoreRules } from './ignore-rules.js';

const MAX_DEPTH = 64;

/**
 * Folders that appeared while watching, looked at once more a moment later. A native watcher adds
 * a new folder's watch only after it sees the folder, and Kairos lists the folder when it sees it;
 * a file written between that listing and the watch is seen by neither (a `mkdir -p a/b && echo >
 * a/b/f` loop lost about one file in 200 on a loaded machine). The second listing, once the watch
 * surely exists, finds those files; anything the first listing or the watcher already named is
 * left alone, so nothing is reported twice.
 */
export class NewDirRecheck {
  private readonly dirs = new Map<string, { at: number; known: Set<string> }>();

  constructor(private readonly repo: string) {}

  /** A folder just listed, with the files that listing reported. */
  add(relDir: string, reported: Iterable<string>, now: number): void {
    this.dirs.set(relDir, { at: now, known: new Set(reported) });
  }

  /**
   * The watcher's view of these changes, corrected: a file inside a folder that just appeared,
   * which neither the listing nor the watcher has named yet, is new even when the watcher calls it
   * an update (its create came before the folder's watch; only the write after it was seen).
   */
  correct(changes: RawChange[]): RawChange[] {
    if (this.dirs.size === 0) return changes;
    return changes.map((c) => (c.kind === 'update' && this.unknownInNewDir(c.rel) ? { rel: c.rel, kind: 'create' } : c));
  }

  private unknownInNewDir(rel: string): boolean {
    for (let dir = path.posix.dirname(rel); dir !== '.' && dir !== '/'; dir = path.posix.dirname(dir)) {
      const d = this.dirs.get(dir);
      if (d) return !d.known.has(rel);
    }
    return false;
  }

  /** The watcher spoke about these paths: they need no second look. */
  saw(changes: readonly RawChange[]): void {
    if (this.dirs.size === 0) return;
    for (const c of changes) {
      for (let dir = path.posix.dirname(c.rel); dir !== '.' && dir !== '/'; dir = path.posix.dirname(dir)) {
        this.dirs.get(dir)?.known.add(c.rel);
      }
    }
  }

  get size(): number {
    return this.dirs.size;
  }

  /** Lists every folder added at least `ageMs` ago again; returns the files neither the listing nor the watcher named. */
  due(now: number, ageMs: number, rules: IgnoreRules): RawChange[] {
    const missed: RawChange[] = [];
    for (const [dir, d] of this.dirs) {
      if (now - d.at < ageMs) continue;
      this.dirs.delete(dir);
      this.list(dir, 0, rules, (rel) => {
        if (!d.known.has(rel)) missed.push({ rel, kind: 'create' });
      });
    }
    return missed;
  }

  private list(relDir: string, depth: number, rules: IgnoreRules, file: (rel: string) => void): void {
    if (depth > MAX_DEPTH) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(this.repo, relDir), { withFileTypes: true });
    } catch {
      return; // gone again: the watcher reports that
    }
    for (const e of entries) {
      const rel = `${relDir}/${e.name}`;
      if (rules.ignores(rel, e.isDirectory())) continue;
      if (e.isDirectory()) this.list(rel, depth + 1, rules, file);
      else file(rel);
    }
  }
}
