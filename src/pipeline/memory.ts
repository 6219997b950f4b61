import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../core/errors.js';

/**
 * A repository's long-term memory: `$KAIROS_HOME/memory/<repo-key>/MEMORY.md`, rewritten nightly by
 * the dream job (src/pipeline/dream.ts) from the daily logs and read into every triage prompt.
 * It lives in the Kairos home, never in the repository: it is Kairos's notes, not the user's files.
 */

export const MEMORY_MAX_LINES = 200;

/**
 * `<folder name>-<8 hex of sha256(path)>`: readable in a file manager, and two checkouts with the
 * same folder name (two clones called `app`) still get different memories.
 */
export function repoKey(repo: string): string {
  const base = path.basename(repo).replace(/[^A-Za-z0-9._-]/g, '_') || 'repo';
  const digest = crypto.createHash('sha256').update(path.resolve(repo)).digest('hex').slice(0, 8);
  return `${base}-${digest}`;
}

export function memoryPath(home: string, repo: string): string {
  return path.join(home, 'memory', repoKey(repo), 'MEMORY.md');
}

/** The repository's MEMORY.md, or null before the first dream. */
export function memoryFor(home: string, repo: string): string | null {
  try {
    return fs.readFileSync(memoryPath(home, repo), 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return null;
    throw e;
  }
}

/** The first `max` lines of `text` (a trailing newline does not count as a line); ends with a newline. */
export function capLines(text: string, max = MEMORY_MAX_LINES): { text: string; lines: number; truncated: boolean } {
  const lines = text.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
  const kept = lines.slice(0, max);
  return { text: `${kept.join('\n')}\n`, lines: kept.length, truncated: lines.length > max };
}

/**
 * Replaces the memory atomically (temp file + rename), so triage never reads half a file and a
 * crash leaves yesterday's memory rather than none. Caps it at MEMORY_MAX_LINES. Returns the file.
 */
export function writeMemory(home: string, repo: string, text: string): { file: string; lines: number; truncated: boolean } {
  const file = memoryPath(home, repo);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const capped = capLines(text);
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, capped.text, { mode: 0o600 });
  fs.renameSync(tmp, file);
  return { file, lines: capped.lines, truncated: capped.truncated };
}
