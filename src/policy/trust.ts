import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../store/db.js';
import { inTrustTransaction, pinRepoTrust, repoTrustPin, unpinRepoTrust } from '../store/trust-store.js';
import { AuditLog } from './audit.js';
import { isAbsent, isErrno, UserInputError, messageOf, errnoCode } from '../core/errors.js';

/**
 * Trust and provenance (policy layer 2). A repository is untrusted until the user runs
 * `kairos trust DIR`. Trusting pins one sha256 digest over every file in the repository that
 * changes what the daemon or its agent may do; when any of them changes afterwards (a `git pull`,
 * a checkout of another branch, an edit), the repository is 'changed': its run/ask triggers and
 * allow rules are refused again and model work there pauses until the user re-trusts.
 */

export type TrustStatus = 'untrusted' | 'trusted' | 'changed';

/**
 * Files and directories (relative to the repository root) whose content is pinned. Directories are
 * hashed recursively. A missing entry counts too: adding one later changes the digest.
 */
export const PINNED_PATHS = [
  '.kairos/policy.yaml',
  '.kairos/hooks',
  '.claude/settings.json',
  '.claude/settings.local.json',
  '.claude/hooks',
  '.mcp.json',
] as const;

/** A repository that cannot be trusted as asked (it does not exist, or is not a directory). */
export class TrustError extends UserInputError {
  override readonly name = 'TrustError';
}

export interface PinnedDigest {
  /** The realpath of the repository. */
  repo: string;
  /** Hex sha256 over the pinned files, as stored in repos.trusted_policy_sha. */
  digest: string;
  /** The pinned files that exist, relative to the repository, sorted. */
  files: string[];
}

/** The combined digest of the pinned files of a repository, as it is on disk now. */
export function pinnedDigest(repoDir: string): PinnedDigest {
  const repo = realRepo(repoDir);
  const lines: string[] = [];
  const files: string[] = [];
  for (const rel of [...PINNED_PATHS].sort()) hashEntry(repo, rel, lines, files, 0);
  // Format version first, so a future change of what is hashed cannot collide with this one.
  const digest = crypto.createHash('sha256').update(`kairos-trust-v1\n${lines.join('\n')}`).digest('hex');
  return { repo, digest, files };
}

/** Marks a repository trusted as it is now, pinning its policy and hook files. */
export function trustRepo(db: Db, repoDir: string, now: Date = new Date()): PinnedDigest {
  const pinned = pinnedDigest(repoDir);
  if (!fs.statSync(pinned.repo).isDirectory()) throw new TrustError(`${pinned.repo} is not a directory — pass the repository's root directory`);
  const at = now.toISOString();
  inTrustTransaction(db, () => {
    pinRepoTrust(db, pinned.repo, pinned.digest, at);
    new AuditLog(db).record(
      { repo: pinned.repo, origin: 'user', action: { type: 'trust', change: 'trust', digest: pinned.digest } },
      { validate: { decision: 'allow', reason: 'an existing repository directory' }, trust: { decision: 'allow', reason: `trusted by the user; pinned ${pinned.files.length ? pinned.files.join(', ') : 'no policy or hook files (their absence)'}` } },
      { at: now },
    );
  });
  return pinned;
}

/** Forgets the trust of a repository; returns whether it was trusted. */
export function untrustRepo(db: Db, repoDir: string, now: Date = new Date()): boolean {
  const repo = realRepoOrResolved(repoDir);
  return inTrustTransaction(db, () => {
    const was = unpinRepoTrust(db, repo);
    new AuditLog(db).record(
      { repo, origin: 'user', action: { type: 'trust', change: 'untrust' } },
      { trust: { decision: 'deny', reason: was ? 'trust revoked by the user: its policy may only tighten the user\'s again' : 'it was not trusted; nothing changed' } },
      { at: now },
    );
    return was;
  });
}

/** 'changed' means trusted once, but a pinned file differs from what the user trusted. */
export function trustStatus(db: Db, repoDir: string): TrustStatus {
  const repo = realRepoOrResolved(repoDir);
  const row = repoTrustPin(db, repo);
  if (!row?.trusted_at || !row.trusted_policy_sha) return 'untrusted';
  let now: string;
  try {
    now = pinnedDigest(repo).digest;
  } catch {
    // A policy that cannot be hashed now is not shown to be the one trusted: 'changed' refuses its
    // additions (the safe side), and `kairos status` shows it.
    return 'changed';
  }
  return now === row.trusted_policy_sha ? 'trusted' : 'changed';
}

function realRepo(repoDir: string): string {
  try {
    return fs.realpathSync(repoDir);
  } catch (e) {
    throw new TrustError(`cannot trust ${repoDir}: ${errnoCode(e) ?? messageOf(e)} — pass an existing repository directory`, { cause: e });
  }
}

/** A repository that has gone away is still looked up by the path it had. */
function realRepoOrResolved(repoDir: string): string {
  try {
    return fs.realpathSync(repoDir);
  } catch (e) {
    if (isAbsent(e)) return path.resolve(repoDir);
    throw e;
  }
}

const MAX_DEPTH = 16;

/**
 * One line per entry, in a fixed order. Symlinks are hashed by their target text and, when they
 * point at a file, by that file's content too (a hook may be a link to a script elsewhere);
 * linked directories are not followed, so a link loop cannot hang the daemon. `skip` leaves out
 * entries by name (a plugin folder's __pycache__, which its Python hooks rewrite as they run).
 */
export function hashEntry(repo: string, rel: string, lines: string[], files: string[], depth: number, skip?: (name: string) => boolean): void {
  const abs = path.join(repo, rel);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(abs);
  } catch (e) {
    // Only a missing file is hashed as absent: one that cannot be read must not be trusted unread.
    if (!isAbsent(e)) throw e;
    lines.push(`absent ${rel}`);
    return;
  }
  if (st.isSymbolicLink()) {
    lines.push(`link ${rel} -> ${fs.readlinkSync(abs)}`);
    files.push(rel);
    try {
      const target = fs.statSync(abs);
      if (target.isFile()) lines.push(`target ${rel} ${sha256File(abs)} ${target.mode & 0o111 ? 'x' : '-'}`);
    } catch (e) {
      // A target that is missing or loops is dangling; one that cannot be read must not be trusted unread.
      if (!isAbsent(e) && !isErrno(e, 'ELOOP')) throw e;
      lines.push(`dangling ${rel}`);
    }
  } else if (st.isFile()) {
    lines.push(`file ${rel} ${sha256File(abs)} ${st.mode & 0o111 ? 'x' : '-'}`);
    files.push(rel);
  } else if (st.isDirectory()) {
    lines.push(`dir ${rel}`);
    if (depth >= MAX_DEPTH) return;
    for (const name of fs.readdirSync(abs).sort()) if (!skip?.(name)) hashEntry(repo, `${rel}/${name}`, lines, files, depth + 1, skip);
  } else {
    lines.push(`other ${rel}`);
  }
}

function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}
