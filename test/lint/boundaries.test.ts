import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

// The checks `npm run lint` runs in .ci/run, each shown failing on a tiny tree with one deliberate fault
// and passing on this checkout. They run the real tools from this checkout's node_modules, offline.
const bin = (rel: string): string => path.join(REPO_ROOT, 'node_modules', rel);
const DEPCRUISE = bin('dependency-cruiser/bin/dependency-cruise.mjs');
const KNIP = bin('knip/bin/knip.js');
const OXLINT = path.join(REPO_ROOT, 'scripts/oxlint-baseline.mjs');
const LINT_TIMEOUT_MS = 5 * 60_000;

const cleanups: Array<() => void> = [];
after(() => cleanups.forEach((c) => c()));

/** A temp folder holding `files` (relative path → content). */
function tree(files: Record<string, string>): string {
  const t = tempDir('kairos-lint-');
  cleanups.push(() => t.cleanup());
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(t.dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(t.dir, rel), text);
  }
  return t.dir;
}

function run(cwd: string, args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: LINT_TIMEOUT_MS, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('dependency-cruiser: the layer map', () => {
  test('a built events module importing the store fails, naming the rule and the import', () => {
    const dir = tree({
      'dist/src/store/db.js': 'export const db = 1;\n',
      'dist/src/events/leak.js': "import { db } from '../store/db.js';\nexport const x = db;\n",
      'dist/src/events/fine.js': 'export const y = 2;\n',
    });
    const r = run(dir, [DEPCRUISE, 'dist/src', '--config', path.join(REPO_ROOT, '.dependency-cruiser.cjs')]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /error events-imports-down: dist\/src\/events\/leak\.js → dist\/src\/store\/db\.js/);
    assert.doesNotMatch(r.out, /fine\.js/);
  });

  test('the library importing the daemon entry fails (cli-not-daemon)', () => {
    const dir = tree({
      'dist/daemon/main.js': 'export const runDaemon = () => 0;\n',
      'dist/src/cli/lifecycle.js': "import { runDaemon } from '../../daemon/main.js';\nexport const x = runDaemon;\n",
    });
    const r = run(dir, [DEPCRUISE, 'dist/src', 'dist/daemon', '--config', path.join(REPO_ROOT, '.dependency-cruiser.cjs')]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /error cli-not-daemon: dist\/src\/cli\/lifecycle\.js → dist\/daemon\/main\.js/);
  });
});

describe('oxlint (type-aware) with the cast baseline', () => {
  const tsconfig = JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: [] }, include: ['src'] });
  const oxlintrc = fs.readFileSync(path.join(REPO_ROOT, '.oxlintrc.json'), 'utf8');
  const project = (files: Record<string, string>): string => tree({ 'tsconfig.json': tsconfig, '.oxlintrc.json': oxlintrc, ...files });

  test('a floating promise fails, naming the rule and the line', () => {
    const dir = project({
      'src/bad.ts': 'async function work(): Promise<void> {}\nexport function go(): void {\n  work();\n}\nexport async function fine(): Promise<void> {\n  await work();\n}\n',
    });
    const r = run(dir, [OXLINT, '--', 'src']);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^src\/bad\.ts:3:3 {2}typescript\(no-floating-promises\)/m);
    assert.match(r.out, /oxlint: 1 files, 1 problem\(s\)/);
  });

  test('a file may keep its baselined casts but not gain one; without a baseline entry any cast fails', () => {
    const oneCast = 'export function a(v: unknown): string {\n  return v as string;\n}\n';
    const twoCasts = `${oneCast}export function b(v: unknown): number {\n  return v as number;\n}\n`;
    const baseline = JSON.stringify({ 'typescript(no-unsafe-type-assertion)': { 'src/old.ts': 1 } });

    const kept = run(project({ 'src/old.ts': oneCast, '.oxlint-baseline.json': baseline }), [OXLINT, '--', 'src']);
    assert.equal(kept.code, 0, kept.out);
    assert.match(kept.out, /0 problem\(s\), 1 baselined/);

    const gained = run(project({ 'src/old.ts': twoCasts, '.oxlint-baseline.json': baseline }), [OXLINT, '--', 'src']);
    assert.equal(gained.code, 1, gained.out);
    assert.match(gained.out, /src\/old\.ts:\d+:\d+ {2}typescript\(no-unsafe-type-assertion\).*\[2 in this file, baseline allows 1: remove the new one\]/);

    const fresh = run(project({ 'src/old.ts': oneCast, 'src/new.ts': oneCast, '.oxlint-baseline.json': baseline }), [OXLINT, '--', 'src']);
    assert.equal(fresh.code, 1, fresh.out);
    assert.match(fresh.out, /src\/new\.ts:2:10 {2}typescript\(no-unsafe-type-assertion\)/);
    assert.doesNotMatch(fresh.out, /src\/old\.ts/);
  });
});

describe('knip: dead code', () => {
  test('a file nothing imports and an export nothing uses fail', () => {
    const dir = tree({
      'package.json': JSON.stringify({ name: 'lint-probe', type: 'module', private: true }),
      'src/index.ts': "import { used } from './lib.js';\nconsole.log(used);\n",
      'src/lib.ts': 'export const used = 1;\nexport const unused = 2;\n',
      'src/dead.ts': 'export const lonely = 3;\n',
    });
    const r = run(dir, [KNIP, '--no-progress']);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /Unused files \(1\)\s+src\/dead\.ts/);
    assert.match(r.out, /Unused exports \(1\)\s+unused\s+src\/lib\.ts:2:14/);
  });
});

test('npm run lint passes on this checkout (what .ci/run runs after the tests built dist/)', () => {
  const r = spawnSync('npm', ['run', 'lint'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: LINT_TIMEOUT_MS, env: { ...process.env, NO_COLOR: '1' } });
  const out = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, out);
  assert.match(out, /no dependency violations found/);
  assert.match(out, /oxlint: \d+ files, 0 problem\(s\)/);
});
