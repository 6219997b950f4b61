import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../support/paths.js';
import { makeRepo } from '../support/git-repo.js';

/**
 * Kairos as users install it. `npm pack` here, then the tarball laid out as `npm install -g
 * --prefix P` lays it out (P/lib/node_modules/kairos, P/bin/kairos -> the bin), with this
 * checkout's node_modules standing in for the dependencies (installing those means compiling
 * better-sqlite3 for minutes: scripts/check-global-install.sh, run by .ci/run, does the whole real
 * install). Then `kairos` from PATH, run from a folder that is not the checkout.
 * And the bin stays runnable after every build: `npx kairos` once said "Permission denied".
 */

interface PackJson {
  filename: string;
  files: Array<{ path: string; mode: number }>;
}

const PKG = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string>; scripts: Record<string, string> };
const BIN = PKG.bin.kairos!;

describe('npm pack, then kairos from a global prefix', () => {
  let tmp: string;
  let packed: PackJson;
  let prefix: string;
  let env: NodeJS.ProcessEnv;
  let elsewhere: string;

  const kairos = (args: string[]) => spawnSync('sh', ['-c', 'exec kairos "$@"', 'sh', ...args], { cwd: elsewhere, env, encoding: 'utf8', timeout: 60_000 });

  before(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-pack-')));
    // --ignore-scripts: the test run has just built dist/; a prepare rebuild would pull it from under the other tests.
    const r = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    packed = (JSON.parse(r.stdout) as PackJson[])[0]!;
    prefix = path.join(tmp, 'prefix');
    const pkgDir = path.join(prefix, 'lib', 'node_modules', 'kairos');
    fs.mkdirSync(pkgDir, { recursive: true });
    const x = spawnSync('tar', ['-xzf', path.join(tmp, packed.filename), '-C', pkgDir, '--strip-components=1'], { encoding: 'utf8' });
    assert.equal(x.status, 0, x.stderr);
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(pkgDir, 'node_modules'));
    fs.mkdirSync(path.join(prefix, 'bin'));
    fs.symlinkSync(path.join('..', 'lib', 'node_modules', 'kairos', BIN), path.join(prefix, 'bin', 'kairos'));
    elsewhere = fs.mkdtempSync(path.join(tmp, 'cwd-'));
    env = { ...process.env, PATH: `${path.join(prefix, 'bin')}:${path.dirname(process.execPath)}:/usr/bin:/bin`, KAIROS_HOME: path.join(tmp, 'home'), KAIROS_NOTIFY: 'off' };
    delete env.ANTHROPIC_API_KEY;
    delete env.NODE_TEST_CONTEXT;
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('the tarball holds the runtime and nothing else; the bin is executable and starts with a node shebang', () => {
    const files = packed.files.map((f) => f.path);
    for (const need of [BIN, 'dist/bundle/kairos.js', 'dist/daemon/main.js', 'policies/default.yaml', 'policies/strict.yaml', 'policies/prices.yaml', 'policies/policy.schema.json', 'README.md', 'package.json']) {
      assert.ok(files.includes(need), `${need} is packed`);
    }
    const stray = files.filter((f) => /^dist\/(test|bench|scripts)\/|\.map$|\.ts$|^src\/|^test\/|node_modules/.test(f));
    assert.deepEqual(stray, [], 'no tests, benchmarks, sources or source maps');
    assert.equal(packed.files.find((f) => f.path === BIN)!.mode & 0o111, 0o111, 'the bin is packed executable');
    assert.match(fs.readFileSync(path.join(prefix, 'bin', 'kairos'), 'utf8'), /^#!\/usr\/bin\/env node\n/);
  });

  test('kairos on PATH: --version, doctor, and data (policies, prices) found in the package, not the current folder', () => {
    const v = kairos(['--version']);
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout.trim(), PKG.version);

    const doctor = kairos(['doctor', '--json']);
    assert.ok(doctor.status === 0 || doctor.status === 1, doctor.stderr);
    const checks = JSON.parse(doctor.stdout) as Array<{ name: string; status: string; detail: string }>;
    for (const name of ['node', 'sqlite', 'shell-grammar']) assert.equal(checks.find((c) => c.name === name)?.status, 'ok', JSON.stringify(checks.find((c) => c.name === name)));

    const check = kairos(['policy', 'check']);
    assert.equal(check.status, 0, check.stderr);
    assert.ok(check.stdout.includes(`the shipped default applies (${path.join(prefix, 'lib', 'node_modules', 'kairos', 'policies', 'default.yaml')})`), check.stdout);

    const strict = kairos(['policy', 'check', path.join(prefix, 'lib', 'node_modules', 'kairos', 'policies', 'strict.yaml')]);
    assert.equal(strict.status, 0, strict.stderr);
  });

  test('start, status, stop on a repository, from the installed kairos', () => {
    const repo = makeRepo();
    try {
      const start = kairos(['start', '--repo', repo.dir]);
      assert.equal(start.status, 0, start.stdout + start.stderr);
      try {
        const status = kairos(['status', '--json']);
        assert.equal(status.status, 0, status.stderr);
        const s = JSON.parse(status.stdout) as { repos: Array<{ path: string }>; spend: unknown };
        assert.deepEqual(s.repos.map((r) => r.path), [repo.dir]);
        assert.ok(s.spend, 'the price table loaded: spend is reported');
      } finally {
        const stop = kairos(['stop']);
        assert.equal(stop.status, 0, stop.stderr);
        assert.match(stop.stdout, /stopped/);
      }
    } finally {
      repo.cleanup();
    }
  });
});

describe('a rebuild keeps the bin runnable', () => {
  test('after the build this test run used, the bin is executable and `npx kairos` runs it', () => {
    assert.match(PKG.scripts.build!, /tsc -p tsconfig\.json && node scripts\/bundle\.mjs && node scripts\/make-bins-executable\.mjs$/, 'the build bundles what tsc wrote, then puts the run bit back');
    assert.equal(fs.statSync(path.join(REPO_ROOT, BIN)).mode & 0o111, 0o111, `${BIN} is executable`);
    // --ignore-scripts: with an empty npm cache (a fresh CI machine) npx runs the project's own
    // `prepare` first, a rebuild that deletes dist/ under every test running beside this one.
    const r = spawnSync('npx', ['--no-install', '--ignore-scripts', 'kairos', '--version'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.trim(), PKG.version);
  });

  test('scripts/make-bins-executable.mjs sets the bit on every bin, and refuses one without a node shebang', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-bins-'));
    try {
      fs.mkdirSync(path.join(tmp, 'scripts'));
      fs.copyFileSync(path.join(REPO_ROOT, 'scripts', 'make-bins-executable.mjs'), path.join(tmp, 'scripts', 'make-bins-executable.mjs'));
      fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ bin: { a: 'out/a.js', b: 'out/b.js' } }));
      fs.mkdirSync(path.join(tmp, 'out'));
      fs.writeFileSync(path.join(tmp, 'out', 'a.js'), '#!/usr/bin/env node\n', { mode: 0o644 });
      fs.writeFileSync(path.join(tmp, 'out', 'b.js'), '#!/usr/bin/env node\n', { mode: 0o600 });
      const ok = spawnSync(process.execPath, ['scripts/make-bins-executable.mjs'], { cwd: tmp, encoding: 'utf8' });
      assert.equal(ok.status, 0, ok.stderr);
      assert.equal(fs.statSync(path.join(tmp, 'out', 'a.js')).mode & 0o777, 0o755);
      assert.equal(fs.statSync(path.join(tmp, 'out', 'b.js')).mode & 0o777, 0o711);
      fs.writeFileSync(path.join(tmp, 'out', 'b.js'), 'console.log(1)\n');
      const bad = spawnSync(process.execPath, ['scripts/make-bins-executable.mjs'], { cwd: tmp, encoding: 'utf8' });
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /out\/b\.js does not start with '#!\/usr\/bin\/env node'/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
