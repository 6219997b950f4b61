import crypto from 'node:crypto';
import type { Db } from '../../store/db.js';
import { pinPluginTrust, pluginTrustDigest, unpinPluginTrust } from '../../store/trust-store.js';
import { hashEntry } from '../../policy/trust.js';

/**
 * Explicit trust of a plugin folder (`kairos trust --plugin NAME`), like a repository's: one sha256
 * over every file in the folder is pinned; when any of them changes afterwards (an update, an
 * edit), the folder is 'changed' and what trust granted (its allow rules) is refused again until
 * the user re-trusts. Left out of the digest: `.git` (a fetch changes it; a checkout changes the
 * files, which are hashed) and `__pycache__` (Python writes it while the plugin's hooks run, which
 * would un-trust every Python plugin on its first hook).
 */

export type PluginTrustStatus = 'untrusted' | 'trusted' | 'changed';

const SKIPPED = new Set(['.git', '__pycache__']);

export interface PluginPin {
  dir: string;
  digest: string;
  files: string[];
}

/** `dir` must be the folder's realpath. */
export function pluginDigest(dir: string): PluginPin {
  const lines: string[] = [];
  const files: string[] = [];
  hashEntry(dir, '.', lines, files, 0, (name) => SKIPPED.has(name));
  const digest = crypto.createHash('sha256').update(`kairos-plugin-trust-v1\n${lines.join('\n')}`).digest('hex');
  return { dir, digest, files: files.map((f) => f.replace(/^\.\//, '')) };
}

export function trustPlugin(db: Db, dir: string, name: string, now: Date = new Date()): PluginPin {
  const pin = pluginDigest(dir);
  pinPluginTrust(db, dir, name, pin.digest, now.toISOString());
  return pin;
}

/** Returns whether the folder was trusted. */
export function untrustPlugin(db: Db, dir: string): boolean {
  return unpinPluginTrust(db, dir);
}

export function pluginTrustStatus(db: Db, dir: string): PluginTrustStatus {
  const pinned = pluginTrustDigest(db, dir);
  if (pinned === undefined) return 'untrusted';
  let now: string;
  try {
    now = pluginDigest(dir).digest;
  } catch {
    // Whatever stops the hashing (a file removed, made unreadable), the plugin is not shown to be the
    // one trusted: 'changed' refuses it, and `kairos status` / `policy check` say so. Nothing runs unseen.
    return 'changed';
  }
  return now === pinned ? 'trusted' : 'changed';
}
