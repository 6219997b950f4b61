import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { NativeTree } from './native-tree.js';
import type { ParcelBackend } from './watch-engine.js';
import { errnoCode, isAbsent, messageOf } from '../core/errors.js';

/** Written beside the snapshot: a snapshot is only compared against the same folder under the same backend. */
interface SnapshotMeta {
  version: 1;
  repo: string;
  backend: ParcelBackend;
  /** The inode of the work tree's folder: a folder deleted and cloned again is a new tree, not a changed one. */
  rootIno: number;
  writtenAt: string;
  /**
   * The ignored folders the snapshot was taken under (repo-relative): the next start subscribes
   * under this list at once, while its own scan finds the list again (native-source.ts).
   */
  ignoredDirs: string[];
}

/** The metadata file as read back: what this version writes, else the snapshot is another version's. */
const StoredSnapshotMeta = z.looseObject({ version: z.literal(1), repo: z.string(), backend: z.string(), rootIno: z.number(), writtenAt: z.string(), ignoredDirs: z.unknown().optional() });

/** A repo-relative folder: no absolute path, no `..`, no empty or `.` part (the hint is only ever a subset of the work tree). */
const RelativeDir = z.string().refine((d) => d.length > 0 && !d.startsWith('/') && d.split('/').every((part) => part !== '' && part !== '.' && part !== '..'));
const IgnoredDirsHint = z.array(RelativeDir);

/**
 * `ignoredDirs`: the ignored folders the snapshot was taken under, when the metadata says (a
 * snapshot from before this field, or a list that is not a list of repo-relative folders, has none:
 * the start then scans before it subscribes, as a first start does).
 */
export type Baseline = { usable: true; writtenAt: string; ignoredDirs?: string[] } | { usable: false; why: string };

/**
 * Where one work tree's snapshot lives ($KAIROS_HOME/watch/<hash>.snapshot) and whether it can be
 * trusted as the baseline for "what changed while Kairos was down". The snapshot itself is written
 * by the native watcher (parcel's format: every path with its mtime; or Watchman's clock).
 */
export class TreeSnapshot {
  readonly file: string;
  private readonly metaFile: string;

  constructor(
    dir: string,
    private readonly repo: string,
    private readonly backend: ParcelBackend,
  ) {
    const id = crypto.createHash('sha256').update(repo).digest('hex').slice(0, 24);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, `${id}.snapshot`);
    this.metaFile = path.join(dir, `${id}.json`);
  }

  /** A scratch file next to the snapshot, for comparisons that must not replace it. */
  scratch(tag: string): string {
    return `${this.file}.${tag}-${process.pid}`;
  }

  baseline(): Baseline {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(this.metaFile, 'utf8'));
    } catch (e) {
      if (isAbsent(e)) return { usable: false, why: 'first start: no snapshot yet' };
      // Unreadable or not JSON: not a first start, and the log should say which (a fresh scan follows either way).
      return { usable: false, why: `the snapshot's metadata cannot be used (${errnoCode(e) ?? messageOf(e)}); scanning afresh` };
    }
    if (!fs.existsSync(this.file)) return { usable: false, why: 'the snapshot file is missing' };
    const parsed = StoredSnapshotMeta.safeParse(raw);
    if (!parsed.success) return { usable: false, why: 'the snapshot belongs to another version or folder' };
    const meta = parsed.data;
    if (meta.repo !== this.repo) return { usable: false, why: 'the snapshot belongs to another version or folder' };
    if (meta.backend !== this.backend) return { usable: false, why: `the snapshot was taken by ${meta.backend}, the engine is now ${this.backend}` };
    if (meta.rootIno !== rootIno(this.repo)) return { usable: false, why: 'the folder was replaced (deleted and created again) since the snapshot' };
    const hint = IgnoredDirsHint.safeParse(meta.ignoredDirs);
    return { usable: true, writtenAt: meta.writtenAt, ...(hint.success ? { ignoredDirs: hint.data } : {}) };
  }

  async save(tree: NativeTree): Promise<void> {
    await tree.writeSnapshot(this.file);
    const meta: SnapshotMeta = { version: 1, repo: this.repo, backend: this.backend, rootIno: rootIno(this.repo), writtenAt: new Date().toISOString(), ignoredDirs: [...tree.ignored] };
    const tmp = `${this.metaFile}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(meta) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, this.metaFile);
  }

  discard(): void {
    fs.rmSync(this.file, { force: true });
    fs.rmSync(this.metaFile, { force: true });
  }
}

export function rootIno(dir: string): number {
  try {
    return fs.statSync(dir).ino;
  } catch {
    // -1 matches no stored inode: the snapshot is judged unusable and a fresh scan follows. Nothing is lost.
    return -1;
  }
}
