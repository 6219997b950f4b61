import fs from 'node:fs';
import path from 'node:path';
import { IGNORE_FILE_NAMES, type IgnoreRules } from './ignore-rules.js';

export interface ScanProgress {
  files: number;
  dirs: number;
  elapsedMs: number;
}

export interface TreeScan extends ScanProgress {
  /** Ignored folders (repo-relative), not descended into: the native watcher is told to skip them. */
  ignoredDirs: string[];
}

/** The walk runs in slices this long, then yields, so the control socket keeps answering while a big tree is indexed. */
const SLICE_MS = 15;
const PROGRESS_EVERY_MS = 200;

/**
 * Walks the folders of a work tree once to find the ignored folders before the native watcher
 * crawls: @parcel/watcher skips a folder given by path at no cost, while its glob ignores cost a
 * regular expression per file (seconds on a large tree). Files are only counted (no stat, no ignore
 * test): the count is the start-up progress a person sees. Synchronous reads in short slices are
 * several times quicker than a promise per folder. Symlinks are never followed.
 */
export async function scanTree(repo: string, rules: IgnoreRules, onProgress?: (p: ScanProgress) => void): Promise<TreeScan> {
  const started = Date.now();
  const out: TreeScan = { files: 0, dirs: 0, elapsedMs: 0, ignoredDirs: [] };
  let lastReport = started;
  const queue: string[] = [''];
  while (queue.length) {
    const sliceEnd = Date.now() + SLICE_MS;
    while (queue.length && Date.now() < sliceEnd) {
      const rel = queue.pop()!;
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(rel ? path.join(repo, rel) : repo, { withFileTypes: true });
      } catch {
        continue; // removed meanwhile, or unreadable: the native watcher reports it if it matters
      }
      out.dirs++;
      if (rel && !entries.some((e) => IGNORE_FILE_NAMES.includes(e.name))) rules.noIgnoreFilesIn(rel);
      for (const e of entries) {
        if (!e.isDirectory()) {
          out.files++;
          continue;
        }
        const child = rel ? `${rel}/${e.name}` : e.name;
        if (rules.ignores(child, true)) out.ignoredDirs.push(child);
        else queue.push(child);
      }
    }
    const now = Date.now();
    if (onProgress && now - lastReport >= PROGRESS_EVERY_MS) {
      lastReport = now;
      onProgress({ files: out.files, dirs: out.dirs, elapsedMs: now - started });
    }
    if (queue.length) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  out.elapsedMs = Date.now() - started;
  out.ignoredDirs.sort();
  return out;
}

/** Two lists of ignored folders (or patterns) are the same list, in the same order. */
export function sameDirList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
