import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { errnoCode, isAbsent } from '../core/errors.js';

/**
 * What a model has already looked at, file by file. The decide stage's first heuristic compares a
 * whole item with the last look only, so the same files seen again in another grouping — the saves
 * that were parked while the user typed, after their commit was looked at; a commit whose files
 * were triaged as saves a moment before — cost a second triage call for nothing new. Replaying real
 * histories showed it: about every commit was looked at twice (bench/replay/history).
 *
 * The memory is per repository, path → the content's digest when a model last answered about it.
 * It lives in the daemon's memory: a restart forgets it, which costs at most one more look.
 */

/** Files larger than this are digested by size and mtime: hashing a 2 GB build artefact on the tick is not cheap. */
export const HASH_WHOLE_FILE_LIMIT = 8 * 1024 * 1024;

/** One path's content as a short digest: its bytes, or what it is when it is not a regular file (absent, a folder). */
export function pathDigest(repoDir: string, rel: string): string {
  const file = path.join(repoDir, rel);
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return `(${st.isDirectory() ? 'dir' : 'other'})`;
    if (st.size > HASH_WHOLE_FILE_LIMIT) return `(large ${st.size} ${st.mtimeMs})`;
    return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch (e) {
    // Unreadable is its own state: a file made unreadable, or readable again, is a change worth a look.
    return isAbsent(e) ? '(absent)' : `(unreadable ${errnoCode(e) ?? 'error'})`;
  }
}

export class LookMemory {
  private readonly byRepo = new Map<string, Map<string, string>>();

  /** A model answered about these paths of `repo` as they are now. */
  remember(repo: string, paths: readonly string[], digest: (p: string) => string = (p) => pathDigest(repo, p)): void {
    const seen = this.byRepo.get(repo) ?? new Map<string, string>();
    for (const p of paths) seen.set(p, digest(p));
    this.byRepo.set(repo, seen);
  }

  /** Has a model already seen every one of these paths with the content it has now? False for no paths. */
  covers(repo: string, paths: readonly string[], digest: (p: string) => string = (p) => pathDigest(repo, p)): boolean {
    const seen = this.byRepo.get(repo);
    if (!seen || paths.length === 0) return false;
    return paths.every((p) => seen.get(p) === digest(p));
  }

  forget(repo: string): void {
    this.byRepo.delete(repo);
  }
}
