#!/usr/bin/env node
// The process entry as one bundle: dist/bin/entry.js (tsc's output) and everything it imports at start,
// folded by esbuild into dist/bundle/kairos.js plus lazy chunks (code splitting: every `import()` stays
// a chunk loaded on first use, e.g. the daemon for `kairos run`). Node then loads a handful of files
// instead of ~400 ESM modules, which was half of the daemon's start-up (issue 11).
// Pure-JS dependencies are bundled; the packages below stay external because they carry native
// addons, workers, WebAssembly or other files they find from their own location, or are loaded lazily
// through `require`/`import()` on a path that is rarely taken.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export const EXTERNAL = [
  'better-sqlite3', // native addon
  '@parcel/watcher', // native addon
  'pino', // thread-stream worker files, found from its own folder
  'node-notifier', // vendored notifier binaries
  'systray2', // the tray binaries
  'dbus-next', // loaded on the first notification only
  'web-tree-sitter', // its .wasm, found from its own folder
  'tree-sitter-bash', // the grammar's .wasm
  '@anthropic-ai/sdk', // loaded on the first model step
  '@modelcontextprotocol/sdk', // loaded for MCP servers only
  'chokidar', // the fallback watcher, loaded only where the native one cannot run
  'node-cron', // loaded on the first cron trigger
  'cron-parser',
  'regexpu-core', // loaded on first use by the secret rules
];

const outdir = `${root}dist/bundle`;
rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { kairos: 'dist/bin/entry.js' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // jsonc-parser's "main" is a UMD build whose require()s esbuild cannot follow; its ESM build is "module".
  mainFields: ['module', 'main'],
  external: EXTERNAL,
  // The CommonJS dependencies folded in (yaml, commander, …) call require() for node: built-ins.
  banner: { js: "import { createRequire as __kairosRequire } from 'node:module'; const require = __kairosRequire(import.meta.url);" },
  sourcemap: 'linked',
  // Keep the sources' text out of the map: it names src/ files and lines, which is what a stack trace needs.
  sourcesContent: false,
  chunkNames: 'chunks/[name]-[hash]',
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
if (result.errors.length) process.exit(1);
