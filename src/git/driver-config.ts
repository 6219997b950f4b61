import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { safeGitEnv } from './git-env.js';
import { KairosError } from '../core/errors.js';

/**
 * Filter and merge drivers are programs named in git config (`filter.<name>.clean`, `.smudge`,
 * `.process`; `merge.<name>.driver`) and chosen per path by `.gitattributes`, which a command run in
 * the worktree can write. The daemon never wants a driver to run, so for every driver the
 * repository's config defines (the only config it reads: no system or global file) it sets the
 * program to nothing on the command line, which wins over every file:
 *   filter: clean/smudge/process empty and required=false → git passes the bytes through unchanged;
 *   merge:  driver `git merge-file` → git's own line merge, conflict markers and all, as if no driver were set.
 * A driver that no config names does nothing already (git ignores an attribute with no driver).
 *
 * What git reads is listed by git itself (`git config --list --show-origin`, includes followed), and
 * the answer is kept until one of the files it came from changes.
 */

type Override = readonly [string, string];

/** The merge a driver-less path gets, spelt as a driver command line (%A is written in place; exit code = conflicts). */
const MERGE_FILE = 'git merge-file -L ours -L base -L theirs %A %O %B';

interface CacheEntry {
  signature: string;
  overrides: Override[];
  /** Every file the config was read from (includes too). */
  origins: string[];
}

const cache = new Map<string, CacheEntry>();

function statSignature(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const st = fs.statSync(f);
        return `${f}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      } catch {
        // Any failure is part of the signature too: a file that appears, goes or changes access re-reads the config.
        return `${f}:-`;
      }
    })
    .join('|');
}

function baseConfigFiles(gitDir: string): string[] {
  const files = [path.join(gitDir, 'config'), path.join(gitDir, 'config.worktree')];
  try {
    const common = fs.readFileSync(path.join(gitDir, 'commondir'), 'utf8').trim();
    if (common) files.push(path.join(path.resolve(gitDir, common), 'config'));
  } catch {
    // not a linked worktree's admin folder
  }
  return files;
}

const MAX_CACHED = 256;

const LIST_ARGS = ['config', '--list', '--name-only', '--show-origin', '-z'];

export class DriverConfigError extends KairosError {
  override name = 'DriverConfigError';
}

function cachedFor(key: string): Override[] | undefined {
  const cached = cache.get(key);
  if (cached && cached.signature === statSignature([...baseConfigFiles(key), ...cached.origins])) return cached.overrides;
  return undefined;
}

/** Fail closed: without the list of drivers no command may run (it would run them). */
function listFailed(key: string, why: string): never {
  throw new DriverConfigError(`git cannot read the configuration of ${key} (${why.trim() || 'no message'}); fix or remove the broken config file`);
}

/** Settings (key/value pairs for the command line) that make every driver the config defines do nothing. */
export function driverOverrides(gitDir: string): Override[] {
  const key = path.resolve(gitDir);
  const hit = cachedFor(key);
  if (hit) return hit;
  const r = spawnSync('git', ['--no-pager', `--git-dir=${key}`, ...LIST_ARGS], { cwd: key, env: safeGitEnv([]), encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0 || typeof r.stdout !== 'string') listFailed(key, r.stderr || r.error?.message || `exit ${r.status}`);
  return remember(key, r.stdout);
}

/** The same, without blocking the event loop while git lists the config. */
export function driverOverridesAsync(gitDir: string): Promise<Override[]> {
  const key = path.resolve(gitDir);
  const hit = cachedFor(key);
  if (hit) return Promise.resolve(hit);
  return new Promise((resolve, reject) => {
    execFile('git', ['--no-pager', `--git-dir=${key}`, ...LIST_ARGS], { cwd: key, env: safeGitEnv([]), encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      try {
        if (err) listFailed(key, String(stderr ?? '') || err.message);
        resolve(remember(key, String(stdout)));
      } catch (e) {
        reject(e);
      }
    });
  });
}

function remember(key: string, listing: string): Override[] {
  const fields = listing.split('\0');
  const origins = new Set<string>();
  const filters = new Set<string>();
  const merges = new Set<string>();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const origin = fields[i]!;
    const name = fields[i + 1]!;
    if (origin.startsWith('file:')) origins.add(path.resolve(key, origin.slice('file:'.length)));
    const m = /^(filter|merge)\.(.+)\.([^.]+)$/s.exec(name);
    if (!m) continue;
    if (m[1] === 'filter') filters.add(m[2]!);
    else if (m[3]!.toLowerCase() === 'driver') merges.add(m[2]!);
  }
  const overrides: Override[] = [];
  for (const f of filters) overrides.push([`filter.${f}.clean`, ''], [`filter.${f}.smudge`, ''], [`filter.${f}.process`, ''], [`filter.${f}.required`, 'false']);
  for (const m of merges) overrides.push([`merge.${m}.driver`, MERGE_FILE]);
  const entry: CacheEntry = { signature: statSignature([...baseConfigFiles(key), ...origins]), overrides, origins: [...origins] };
  // One entry per git dir (each task worktree has its own): the oldest go first.
  cache.delete(key);
  cache.set(key, entry);
  if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!);
  return overrides;
}
