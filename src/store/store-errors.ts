import fs from 'node:fs';
import { StoreError, errnoCode, messageOf, type KairosErrorOptions } from '../core/errors.js';

/** SQLite result codes (primary code of an extended one) that mean the file is not a usable database. */
const DAMAGED_CODES = ['SQLITE_CORRUPT', 'SQLITE_NOTADB'];
/** The disk (or quota) is full: a write failed, nothing is wrong with the file. */
const FULL_CODES = ['SQLITE_FULL'];

function sqliteCode(e: unknown): string | undefined {
  const code = errnoCode(e);
  return code?.startsWith('SQLITE_') ? code : undefined;
}

function hasCode(e: unknown, codes: readonly string[]): boolean {
  const code = sqliteCode(e);
  return code !== undefined && codes.some((c) => code === c || code.startsWith(`${c}_`));
}

/** True for an error SQLite raises when the store's disk is full (ENOSPC, a quota, a full tmpfs). */
export function isDiskFull(e: unknown): boolean {
  if (hasCode(e, FULL_CODES)) return true;
  // An I/O error on write can also be the disk filling up under SQLite's feet.
  return errnoCode(e) === 'ENOSPC' || (e instanceof Error && /database or disk is full/i.test(messageOf(e)));
}

export function isDamaged(e: unknown): boolean {
  return hasCode(e, DAMAGED_CODES);
}

/**
 * The store file is not a database or is corrupt. The message is one line a person can act on: it names
 * the file and says how to start afresh without destroying the evidence.
 */
export class StoreDamagedError extends StoreError {
  override name = 'StoreDamagedError';
  constructor(
    readonly file: string,
    detail: string,
    options?: KairosErrorOptions,
  ) {
    const q = (p: string): string => (/^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`);
    // Its write-ahead log goes with it: left behind, it would be replayed into the fresh store.
    const moves = [file, `${file}-wal`, `${file}-shm`]
      .filter((f, i) => i === 0 || fs.existsSync(f))
      .map((f) => `mv ${q(f)} ${q(`${f}.broken`)}`);
    super(`the store ${file} is damaged (${detail}); move it aside and start again with a fresh one (kept for inspection): ${moves.join(' && ')}`, options);
  }
}
