import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
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
  /** What else decided that list: the policy's `ignore` patterns and `.git/info/exclude`'s mtime (-1: none). */
  rules: IgnoreInputs;
  /** The tree's size when the snapshot was taken, shown by `status` until a walk counts again. */
  files: number;
  dirs: number;
}

/** The inputs to the ignore rules that no file event reports: the policy's patterns and `.git/info/exclude` (inside `.git`, never watched). */
export interface IgnoreInputs {
  policyIgnore: string[];
  excludeMtimeMs: number;
}

export function ignoreInputs(repo: string, policyIgnore: readonly string[]): IgnoreInputs {
  let excludeMtimeMs = -1;
  try {
    excludeMtimeMs = fs.statSync(path.join(repo, '.git', 'info', 'exclude')).mtimeMs;
  } catch {
    // none (or unreadable, which the rules treat as none too)
  }
  return { policyIgnore: [...policyIgnore], excludeMtimeMs };
}

/**
 * The metadata file as read back: what this version writes, else the snapshot is another version's.
 * Checked by hand rather than with zod: `kairos run` reads it at its very start, before the schema
 * library has loaded (early-watch.ts).
 */
function storedMeta(raw: unknown): (Pick<SnapshotMeta, 'version' | 'repo' | 'rootIno' | 'writtenAt'> & { backend: string; ignoredDirs?: unknown; rules?: unknown; files?: unknown; dirs?: unknown }) | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const field = (k: string): unknown => Reflect.get(raw, k);
  const [version, repo, backend, ino, writtenAt] = [field('version'), field('repo'), field('backend'), field('rootIno'), field('writtenAt')];
  if (version !== 1 || typeof repo !== 'string' || typeof backend !== 'string' || typeof ino !== 'number' || typeof writtenAt !== 'string') return undefined;
  // The backend is compared with the engine's own: any other string only makes the snapshot unusable.
  return { version, repo, backend, rootIno: ino, writtenAt, ignoredDirs: field('ignoredDirs'), rules: field('rules'), files: field('files'), dirs: field('dirs') };
}

function storedRules(v: unknown): IgnoreInputs | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const policyIgnore: unknown = Reflect.get(v, 'policyIgnore');
  const excludeMtimeMs: unknown = Reflect.get(v, 'excludeMtimeMs');
  if (!Array.isArray(policyIgnore) || !policyIgnore.every((p) => typeof p === 'string') || typeof excludeMtimeMs !== 'number') return undefined;
  return { policyIgnore: [...policyIgnore], excludeMtimeMs };
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** A repo-relative folder: no absolute path, no `..`, no empty or `.` part (the hint is only ever a subset of the work tree). */
function isRelativeDir(d: unknown): d is string {
  return typeof d === 'string' && d.length > 0 && !d.startsWith('/') && d.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

function ignoredDirsHint(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every(isRelativeDir) ? [...v] : undefined;
}

/**
 * `ignoredDirs`: the ignored folders the snapshot was taken under, when the metadata says (a
 * snapshot from before this field, or a list that is not a list of repo-relative folders, has none:
 * the start then scans before it subscribes, as a first start does).
 */
export type Baseline =
  | { usable: true; writtenAt: string; ignoredDirs?: string[]; rules?: IgnoreInputs; files?: number; dirs?: number }
  | { usable: false; why: string };

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
    const meta = storedMeta(raw);
    if (!meta || meta.repo !== this.repo) return { usable: false, why: 'the snapshot belongs to another version or folder' };
    if (meta.backend !== this.backend) return { usable: false, why: `the snapshot was taken by ${meta.backend}, the engine is now ${this.backend}` };
    if (meta.rootIno !== rootIno(this.repo)) return { usable: false, why: 'the folder was replaced (deleted and created again) since the snapshot' };
    const hint = ignoredDirsHint(meta.ignoredDirs);
    const rules = storedRules(meta.rules);
    const [files, dirs] = [count(meta.files), count(meta.dirs)];
    return {
      usable: true,
      writtenAt: meta.writtenAt,
      ...(hint ? { ignoredDirs: hint } : {}),
      ...(rules ? { rules } : {}),
      ...(files !== undefined && dirs !== undefined ? { files, dirs } : {}),
    };
  }

  /** `rules` are read before the tree is written, so a change to them meanwhile makes the next start walk again. */
  async save(tree: NativeTree, size: { files: number; dirs: number; policyIgnore: readonly string[] }): Promise<void> {
    const rules = ignoreInputs(this.repo, size.policyIgnore);
    await tree.writeSnapshot(this.file);
    const meta: SnapshotMeta = {
      version: 1,
      repo: this.repo,
      backend: this.backend,
      rootIno: rootIno(this.repo),
      writtenAt: new Date().toISOString(),
      ignoredDirs: [...tree.ignored],
      rules,
      files: size.files,
      dirs: size.dirs,
    };
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
