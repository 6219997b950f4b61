import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules, SourceMap, type SourceMapPayload } from 'node:module';
import path from 'node:path';
import { COMPILED, REPO_ROOT } from '../support/paths.js';
import { cliEntry, currentServiceSpec } from '../../src/cli/service-command.js';
import { serviceFile } from '../../src/cli/service.js';
import { callDaemon } from '../../src/cli/control-client.js';
import { DAEMON_ENV, DAEMON_NODE_ARGS } from '../../src/cli/daemon-node-args.js';
import { kairos, kairosJson, scenario } from '../support/kairos.js';
import { packageRoot, packageVersion, runningFromBundle } from '../../src/core/package-root.js';

/**
 * Issue 11 (start-up cost): `npm run build` bundles the process entry (scripts/bundle.mjs →
 * dist/bundle/), and the bin runs the bundle. These check the built bundle itself: that the bin (and
 * so the service unit) really runs it, that what it leaves to node_modules is a runtime dependency,
 * and that its source maps lead back to src/. The daemon from the bundle, with its lazy chunks, is
 * test/e2e/lazy-start.test.ts; every e2e and cli test spawns the bin, so all of them run the bundle.
 */

const BUNDLE = path.join(REPO_ROOT, 'dist', 'bundle');
const BIN = path.join(REPO_ROOT, 'dist', 'bin', 'kairos.js');
// Only the compiled run has a build (from source under tsx, the bin falls back to bin/entry.ts).
const skip = COMPILED ? false : 'needs the build (dist/bundle)';

/** A loader hook, given to node with --import, that prints every file module loaded. */
const TRACE_HOOK = `data:text/javascript,${encodeURIComponent(
  `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent('export async function load(u, c, n) { if (u.startsWith("file:")) process._rawDebug("kairos-loaded " + u); return n(u, c); }'));`,
)}`;

function bundleFiles(): string[] {
  return fs.readdirSync(BUNDLE, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js')).map((f) => path.join(BUNDLE, f));
}

describe('the bundle', { skip }, () => {
  test('the bin (the one the service unit runs) loads the bundle and no module of dist/src or dist/daemon', () => {
    assert.equal(cliEntry().cli, BIN, 'the service unit starts the bin');
    const r = spawnSync(process.execPath, ['--import', TRACE_HOOK, BIN, '--version'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), packageVersion());
    const loaded = [...r.stderr.matchAll(/^kairos-loaded file:\/\/(.+)$/gm)].map((m) => path.relative(REPO_ROOT, decodeURIComponent(m[1]!)));
    assert.ok(loaded.includes(path.join('dist', 'bundle', 'kairos.js')), loaded.join('\n'));
    const unbundled = loaded.filter((f) => f.startsWith(path.join('dist', 'src')) || f.startsWith(path.join('dist', 'daemon')));
    assert.deepEqual(unbundled, [], 'nothing of tsc\'s one-file-per-module output');
    // zod alone was 95 modules; the whole start ~230 files before the bundle.
    const ours = loaded.filter((f) => !f.includes('node_modules'));
    assert.ok(ours.length < 30, `the bundle's own files loaded for --version: ${ours.length}\n${ours.join('\n')}`);
    assert.deepEqual(loaded.filter((f) => /node_modules\/(zod|yaml|smol-toml|commander|picomatch)\//.test(f)), [], 'pure-JS dependencies come from the bundle');
  });

  test('every package the bundle leaves to node_modules is a runtime dependency (or a node built-in)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const builtins = new Set(builtinModules);
    const left = new Set<string>();
    for (const file of bundleFiles()) {
      const text = fs.readFileSync(file, 'utf8');
      // Static imports (esbuild writes them at the start of a line), import("x"), and require("x") in folded CommonJS.
      const specs = [/^import\s[^;]*?\bfrom\s*"([^"]+)"/gm, /^import\s*"([^"]+)"/gm, /\bimport\(\s*"([^"]+)"\s*\)/g, /require\(\s*"([^"]+)"\s*\)/g];
      for (const re of specs) for (const m of text.matchAll(re)) if (!m[1]!.startsWith('.')) left.add(m[1]!);
    }
    const packageOf = (spec: string) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    const stray = [...left].filter((s) => !s.startsWith('node:') && !builtins.has(s) && !builtins.has(s.split('/')[0]!) && !(packageOf(s) in pkg.dependencies));
    assert.deepEqual(stray, [], 'imported by the bundle but not a dependency in package.json: an install would not have it');
    for (const native of ['better-sqlite3', '@parcel/watcher']) assert.ok(left.has(native), `${native} (a native addon) stays external`);
  });

  test('its source maps lead from a bundled function back to its line in src/', () => {
    const chunk = bundleFiles().find((f) => fs.readFileSync(f, 'utf8').includes('function runningFromBundle('));
    assert.ok(chunk, 'package-root.ts is in a chunk');
    const lines = fs.readFileSync(chunk, 'utf8').split('\n');
    const line = lines.findIndex((l) => l.includes('function runningFromBundle('));
    const map = new SourceMap(JSON.parse(fs.readFileSync(`${chunk}.map`, 'utf8')) as SourceMapPayload);
    const entry = map.findEntry(line, lines[line]!.indexOf('function runningFromBundle('));
    assert.ok('originalSource' in entry, 'the position is mapped');
    const source = path.resolve(path.dirname(chunk), entry.originalSource);
    assert.equal(source, path.join(REPO_ROOT, 'src', 'core', 'package-root.ts'));
    const srcLines = fs.readFileSync(source, 'utf8').split('\n');
    assert.match(srcLines[entry.originalLine]!, /export function runningFromBundle\(/);
  });
});

test('the package root is found from the code, whichever layout it runs from', () => {
  assert.equal(packageRoot(), REPO_ROOT);
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(packageVersion(), pkg.version);
  // This test imports tsc's output (or the sources), not the bundle.
  assert.equal(runningFromBundle(), false);
});

describe('the daemon Kairos starts itself gets its node options and environment', { skip: process.platform === 'linux' ? false : 'reads /proc' }, () => {
  test('`kairos start`: the daemon process runs with them, from the bundle', async () => {
    assert.ok(DAEMON_NODE_ARGS.length > 0);
    await scenario(undefined, async ({ h, repo }) => {
      const start = kairos(['start', '--repo', repo.dir], h.env);
      assert.equal(start.code, 0, start.stdout + start.stderr);
      try {
        const { pid } = kairosJson<{ pid: number }>(['status'], h.env);
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        for (const a of DAEMON_NODE_ARGS) assert.ok(argv.indexOf(a) > 0 && argv.indexOf(a) < argv.indexOf('run'), `${a} is a node option of the daemon: ${argv.join(' ')}`);
        const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        for (const [k, v] of Object.entries(DAEMON_ENV)) assert.ok(environ.includes(`${k}=${v}`), `${k}=${v} is in the daemon's environment`);
        const loaded = (await callDaemon(h.home, 'debug.lazy_modules')) as { bundled: boolean };
        assert.equal(loaded.bundled, COMPILED);
      } finally {
        assert.equal(kairos(['stop'], h.env).code, 0);
      }
    });
  });

  test('the service unit: the same options before the bin', () => {
    const { spec } = currentServiceSpec(path.join(REPO_ROOT, 'no-such-home'), { forInstall: false }, { HOME: '/home/someone', PATH: '/usr/bin:/bin' });
    const unit = serviceFile({ ...spec, platform: 'linux' }).content;
    const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? '';
    assert.ok(exec.includes(`${DAEMON_NODE_ARGS.join(' ')} ${cliEntry().cli} run`), exec);
    for (const [k, v] of Object.entries(DAEMON_ENV)) assert.match(unit, new RegExp(`^Environment=${k}=${v}$`, 'm'));
  });
});
