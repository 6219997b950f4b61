#!/usr/bin/env node
// The package's bin (package.json "bin"). It runs the bundle that `npm run build` makes
// (dist/bundle/kairos.js, scripts/bundle.mjs: a few files instead of ~400 modules, which was half of
// node's start-up), and falls back to the unbundled entry when there is none: run from source under
// tsx, or a dist/ written by tsc alone.
import { existsSync } from 'node:fs';

const bundle = new URL('../bundle/kairos.js', import.meta.url);
if (existsSync(bundle)) await import(bundle.href);
else await import('./entry.js');
