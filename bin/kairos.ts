#!/usr/bin/env node
// The package's bin (package.json "bin"). It runs the bundle that `npm run build` makes
// (dist/bundle/kairos.js, scripts/bundle.mjs: a few files instead of ~400 modules, which was half of
// node's start-up), and falls back to the unbundled entry when there is none (run from source under
// tsx) or when tsc has written the code again since the bundle was made (a bare `tsc`: tsc rewrites
// every file it emits), so a stale bundle never runs in place of the code just compiled.
import { statSync } from 'node:fs';

function bundleIsCurrent(bundle: URL, entry: URL): boolean {
  try {
    return statSync(bundle).mtimeMs >= statSync(entry).mtimeMs;
  } catch {
    // No bundle (or, from source, no compiled entry): the unbundled entry.
    return false;
  }
}

const bundle = new URL('../bundle/kairos.js', import.meta.url);
if (bundleIsCurrent(bundle, new URL('./entry.js', import.meta.url))) await import(bundle.href);
else await import('./entry.js');
