import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveInRoot } from '../../src/policy/validate.js';

describe('resolveInRoot', () => {
  let base: string;
  let root: string;
  before(() => {
    base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-validate-')));
    root = path.join(base, 'repo');
    fs.mkdirSync(path.join(root, 'src'), { recursive: true });
    fs.writeFileSync(path.join(root, 'src/a.ts'), '');
    fs.writeFileSync(path.join(base, 'secret.txt'), 'outside');
    fs.symlinkSync(base, path.join(root, 'up'));
    fs.symlinkSync(path.join(base, 'secret.txt'), path.join(root, 'leak.txt'));
    fs.symlinkSync('src', path.join(root, 'inner'));
    fs.symlinkSync(path.join(base, 'nowhere/new.txt'), path.join(root, 'dangling'));
    fs.symlinkSync('loop', path.join(root, 'loop'));
  });
  after(() => fs.rmSync(base, { recursive: true, force: true }));

  // Each registers a test (node:test runs it; the promise test() returns is not ours to await).
  const ok = (p: string, rel: string): void => {
    test(`'${p}' → ${rel}`, () => {
      const r = resolveInRoot(root, p);
      assert.ok(r.ok, r.ok ? '' : r.reason);
      assert.equal(r.ok && r.rel, rel);
    });
  };
  const no = (p: string, why: RegExp): void => {
    test(`'${p.slice(0, 40)}' is denied`, () => {
      const r = resolveInRoot(root, p, base);
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.reason, why);
    });
  };

  ok('src/a.ts', 'src/a.ts');
  ok('./src/../src/a.ts', 'src/a.ts');
  ok('src/new/deeper/file.ts', 'src/new/deeper/file.ts');
  ok('inner/a.ts', 'src/a.ts');
  ok('.', '.');
  test('an absolute path inside the root is fine', () => assert.equal((resolveInRoot(root, path.join(root, 'src/a.ts')) as { rel: string }).rel, 'src/a.ts'));
  no('../secret.txt', /leaves the repository/);
  no('src/../../secret.txt', /leaves the repository/);
  no('src/new/../../../x', /leaves the repository/);
  no('/etc/passwd', /absolute path outside/);
  no('~/secret.txt', /outside|leaves/);
  no('up/secret.txt', /symlink that points outside/);
  no('leak.txt', /symlink that points outside/);
  no('up/repo/../secret.txt', /outside/);
  no('dangling', /symlink that points outside/);
  no('loop', /symlink loop/);
  no('src/a\0.ts', /NUL byte/);
  no(`src/${'x'.repeat(256)}`, /longer than 255 bytes/);
  no(`src/${'é'.repeat(128)}`, /longer than 255 bytes/);
  no(`${'abc/'.repeat(1100)}x`, /longer than 4096 bytes/);
  no('', /empty/);
});
