import fs from 'node:fs';
import path from 'node:path';
import type { EventDraft } from './event.js';
import type { IgnoreRules } from './ignore-rules.js';

/** What a watcher said happened to a path; the disk decides what is reported. */
export type RawKind = 'create' | 'update' | 'delete';
export interface RawChange {
  rel: string;
  kind: RawKind;
}

export type FileOrigin = 'user' | 'daemon' | 'offline';
/**
 * What was last reported for a path in the current burst, so a burst's later batches do not repeat
 * it: `gone`, or the file's stat signature when it was reported present (a later event that finds
 * the file exactly as reported is the tail of the same write, e.g. a create and its modify handed
 * over in two batches, not a change of its own).
 */
export type Reported = Map<string, string>;
const GONE = 'gone';

export interface DiskCheckOptions {
  repo: string;
  rules: IgnoreRules;
  origin(rel: string): FileOrigin;
  /** Kept across the batches of one burst by the caller (and cleared when it goes quiet). */
  reported?: Reported;
  /** A path that cannot be recorded exactly (a name that is not valid UTF-8): logged by the caller, never dropped silently. */
  onRefused(rel: string, reason: string): void;
  /** Extra fields for every event (`{recovered: true}` after a storm). */
  data?: Record<string, unknown>;
}

export interface DiskCheckResult {
  drafts: EventDraft[];
  /** Files found inside newly created folders that the watcher itself never reported (its watch may have come too late). */
  foundInNewDirs: string[];
  /**
   * Folders found inside new folders that the watcher never named: a native watcher may never
   * watch them (they existed before their parent's watch did), so the tree must be crawled again.
   */
  unseenDirs: number;
  /** Folders the watcher reported as created, listed here (see new-dir-recheck.ts). */
  newDirs: string[];
  /**
   * The newest ctime (epoch ms) of the files reported, as read now; undefined when a reported path
   * has none to read (removed, or found by listing a new folder). Bounds a settle credit (quiet-credit.ts).
   */
  newestChangeMs: number | undefined;
}

/** U+FFFD in a name the disk does not know: the watcher decoded bytes that are not UTF-8, so the name it gives is not the real one. */
const LOSSY = '\uFFFD';
const MAX_DEPTH = 64;

type DiskState = { kind: 'gone' } | { kind: 'dir' } | { kind: 'file'; sig: string; ctimeMs: number };

function onDisk(abs: string): DiskState {
  try {
    const st = fs.lstatSync(abs);
    // Inode, mode, size and both times: any write, replacement or chmod changes one of them (two
    // writes of the same size within one coarse clock tick do not, but the path is then already pending).
    return st.isDirectory() ? { kind: 'dir' } : { kind: 'file', sig: `${st.ino}:${st.mode}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`, ctimeMs: st.ctimeMs };
  } catch {
    // Gone, or no longer visible to this user: either way the watcher can no longer see it, as for a delete.
    return { kind: 'gone' };
  }
}

/**
 * Turns what a watcher reported into events that match the disk at the moment they are stored:
 * a removal only for a path that is gone, an add or change only for one that exists (a symlink is a
 * file; it is never followed), one event per path per batch (an add that was also changed is an add),
 * and nothing for a path created and removed again before it was looked at. A new folder is listed,
 * because a native watcher adds its watch only after the folder exists and misses what was written
 * into it first. Folders themselves are not reported, as before.
 */
export function checkAgainstDisk(changes: readonly RawChange[], o: DiskCheckOptions): DiskCheckResult {
  // Collapse per path, keeping the strongest claim: created beats updated; deleted is only a claim.
  const byPath = new Map<string, RawKind>();
  for (const c of changes) {
    if (!c.rel || c.rel === '.' || c.rel.startsWith('../')) continue;
    const prev = byPath.get(c.rel);
    if (prev === 'create') continue;
    byPath.set(c.rel, prev && c.kind === 'delete' ? prev : c.kind);
  }
  const at = new Date().toISOString();
  const drafts: EventDraft[] = [];
  const emitted = new Set<string>();
  const foundInNewDirs: string[] = [];
  let unseenDirs = 0;
  const newDirs: string[] = [];
  let newestChangeMs = Number.NEGATIVE_INFINITY;
  let changeTimeUnknown = false;
  const emit = (rel: string, type: EventDraft['type'] & `file.${string}`, state?: DiskState & { kind: 'file' }): void => {
    if (emitted.has(rel)) return;
    emitted.add(rel);
    if (state) newestChangeMs = Math.max(newestChangeMs, state.ctimeMs);
    else changeTimeUnknown = true;
    o.reported?.set(rel, type === 'file.removed' ? GONE : (state?.sig ?? onDiskSig(path.join(o.repo, rel))));
    drafts.push({ type, repo: o.repo, path: rel, at, origin: o.origin(rel), data: { ...o.data } });
  };

  const listNewDir = (relDir: string, depth: number): void => {
    if (depth > MAX_DEPTH) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(o.repo, relDir), { withFileTypes: true });
    } catch {
      // Gone again, or unreadable: nothing in it can be seen; the watcher reports the folder itself.
      return;
    }
    for (const e of entries) {
      const rel = `${relDir}/${e.name}`;
      if (rules().ignores(rel, e.isDirectory())) continue;
      if (e.isDirectory()) {
        if (!byPath.has(rel)) unseenDirs++;
        listNewDir(rel, depth + 1);
      }
      else if (!byPath.has(rel) && !emitted.has(rel)) {
        if (e.name.includes(LOSSY) && onDisk(path.join(o.repo, rel)).kind === 'gone') {
          o.onRefused(rel, 'its name is not valid UTF-8');
          continue;
        }
        foundInNewDirs.push(rel);
        const last = o.reported?.get(rel);
        emit(rel, last !== undefined && last !== GONE ? 'file.changed' : 'file.added');
      }
    }
  };
  const rules = (): IgnoreRules => o.rules;
  const inCreatedFolder = (rel: string): boolean => {
    for (let dir = path.posix.dirname(rel); dir !== '.' && dir !== '/'; dir = path.posix.dirname(dir)) if (byPath.get(dir) === 'create') return true;
    return false;
  };

  for (const [rel, kind] of byPath) {
    const state = onDisk(path.join(o.repo, rel));
    const last = o.reported?.get(rel);
    if (state.kind === 'gone') {
      if (rel.includes(LOSSY) && kind !== 'delete') {
        o.onRefused(rel, 'its name is not valid UTF-8');
        continue;
      }
      // Ignored paths never reach here as files; a path whose ignore status needs isDir is tested as a file.
      if (o.rules.ignores(rel, false)) continue;
      if (last === GONE || (kind === 'create' && last === undefined)) continue; // already reported, or came and went unseen
      emit(rel, 'file.removed');
      continue;
    }
    if (o.rules.ignores(rel, state.kind === 'dir')) continue;
    if (state.kind === 'dir') {
      if (kind !== 'update') {
        newDirs.push(rel);
        listNewDir(rel, 0);
      }
      continue;
    }
    if (last === state.sig) continue; // exactly as already reported in this burst
    if (kind === 'create') emit(rel, last !== undefined && last !== GONE ? 'file.changed' : 'file.added', state);
    // An update inside a folder created in this same batch is a new file whose create came before
    // the folder's watch existed (only its write was seen).
    else emit(rel, last === GONE || (last === undefined && inCreatedFolder(rel)) ? 'file.added' : 'file.changed', state);
  }
  return { drafts, foundInNewDirs, unseenDirs, newDirs, newestChangeMs: changeTimeUnknown || !drafts.length ? undefined : newestChangeMs };
}

function onDiskSig(abs: string): string {
  const state = onDisk(abs);
  return state.kind === 'file' ? state.sig : state.kind;
}
