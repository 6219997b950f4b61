import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The installed package's root: the folder whose package.json names "kairos". Found by walking up from
 * this module, so one answer serves every layout the code runs in: src/core under tsx, dist/src/core
 * after tsc, and dist/bundle/ when esbuild has folded this module into a chunk (where a relative path
 * like '../../policies' would point somewhere else). Never the current folder: a repository being
 * watched may hold its own package.json or policies/.
 */
let root: string | undefined;

/** The two fields read here; a package.json without the name is some other package's (a workspace's, say). */
function kairosPackage(dir: string): { name?: unknown; version?: unknown } | null {
  const file = path.join(dir, 'package.json');
  if (!fs.existsSync(file)) return null;
  try {
    const pkg: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    return typeof pkg === 'object' && pkg !== null && 'name' in pkg && pkg.name === 'kairos' ? pkg : null;
  } catch {
    // An unreadable or invalid package.json above us is not ours: keep walking.
    return null;
  }
}

export function packageRoot(): string {
  if (root) return root;
  const here = fileURLToPath(import.meta.url);
  for (let dir = path.dirname(here); ; dir = path.dirname(dir)) {
    if (kairosPackage(dir)) return (root = dir);
    if (path.dirname(dir) === dir) throw new Error(`cannot find Kairos's package.json above ${here}: reinstall Kairos`);
  }
}

/** A file shipped with the package (policies/…, package.json, dist/…), by its path from the package root. */
export function packagePath(...parts: string[]): string {
  return path.join(packageRoot(), ...parts);
}

/** Kairos's version from its own package.json, or 'unknown' when it has none. */
export function packageVersion(): string {
  const pkg = kairosPackage(packageRoot());
  return typeof pkg?.version === 'string' ? pkg.version : 'unknown';
}

/** `require` as the package's own: resolves dependencies (and their files) from the package's node_modules. */
export function packageRequire(): NodeJS.Require {
  return createRequire(packagePath('package.json'));
}

/**
 * Whether the code running is the bundle (dist/bundle/, made by scripts/bundle.mjs) rather than tsc's
 * one-file-per-module output or the sources: the bundle folds this module into one of its chunks.
 */
export function runningFromBundle(): boolean {
  const [top, sub] = path.relative(packageRoot(), fileURLToPath(import.meta.url)).split(path.sep);
  return top === 'dist' && sub === 'bundle';
}
