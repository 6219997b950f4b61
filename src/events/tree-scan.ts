import fs from 'node:fs';
import path from 'node:path';
import type { IgnoreRules } from './ignore-rules.js';

export interface ScanProgress {
  files: number;
  dirs: number;
  elapsedMs: number;
}

export interface TreeScan extends ScanProgress {
  /** Ignored folders (repo-relative), not descended into: the native watcher is told to skip them. */
  ignoredDirs: string[];
}

const CONCURRENCY = 8;
const PROGRESS_EVERY_MS = 200;

/**
 * Walks the folders of a work tree once, asynchronously (the control socket keeps answering), to
 * find the ignored folders before the native watcher crawls: @parcel/watcher skips a folder given
 * by path at no cost, while its glob ignores cost a regular expression per file (seconds on a large
 * tree). Files are only counted (no stat, no ignore test): the count is the start-up progress a
 * person sees. Symlinks are never followed.
 */
export async function scanTree(repo: string, rules: IgnoreRules, onProgress?: (p: ScanProgress) => void): Promise<TreeScan> {
  const started = Date.now();
  const out: TreeScan = { files: 0, dirs: 0, elapsedMs: 0, ignoredDirs: [] };
  let lastReport = started;
  const queue: string[] = [''];
  const visitDir = async (rel: string): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(rel ? path.join(repo, rel) : repo, { withFileTypes: true });
    } catch {
      return; // removed meanwhile, or unreadable: the native watcher reports it if it matters
    }
    out.dirs++;
    for (const e of entries) {
      if (!e.isDirectory()) {
        out.files++;
        continue;
      }
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (rules.ignores(child, true)) out.ignoredDirs.push(child);
      else queue.push(child);
    }
    const now = Date.now();
    if (onProgress && now - lastReport >= PROGRESS_EVERY_MS) {
      lastReport = now;
      onProgress({ files: out.files, dirs: out.dirs, elapsedMs: now - started });
    }
  };
  // A small pool over a shared queue: enough parallel readdirs to keep the disk busy, bounded memory.
  const worker = async (): Promise<void> => {
    for (let rel = queue.pop(); rel !== undefined; rel = queue.pop()) await visitDir(rel);
  };
  let active: Promise<void>[] = [];
  while (queue.length) {
    active = Array.from({ length: Math.min(CONCURRENCY, queue.length) }, worker);
    await Promise.all(active);
  }
  out.elapsedMs = Date.now() - started;
  out.ignoredDirs.sort();
  return out;
}
