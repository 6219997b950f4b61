import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { watchFiles } from '../../src/events/fs-source.js';
import { IgnoreRules } from '../../src/events/ignore-rules.js';
import type { EventDraft } from '../../src/events/event.js';
import { tempDir } from '../support/temp.js';
import { inotifyWatchCount } from '../support/inotify.js';
import { waitFor } from '../support/kairos.js';

const tmp = tempDir('kairos-fs-');
after(() => tmp.cleanup());

function tree(name: string, files: Record<string, string>): string {
  const root = path.join(tmp.dir, name);
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
  fs.mkdirSync(path.join(root, '.git'), { recursive: true });
  return root;
}

describe('IgnoreRules', () => {
  test('honours root and nested .gitignore, .kairosignore, info/exclude, the policy list and built-ins', () => {
    const root = tree('rules', {
      '.gitignore': 'dist/\n*.log\n!keep.log\n',
      '.kairosignore': 'scratch/\n',
      'pkg/.gitignore': 'generated/\n/local.txt\n',
      '.git/info/exclude': 'secret-notes.md\n',
    });
    const r = new IgnoreRules(root, ['tmp/**']);
    const cases: Array<[string, boolean, boolean]> = [
      ['dist', true, true],
      ['dist', false, false], // a file named dist is not the ignored folder
      ['src/a.log', false, true],
      ['keep.log', false, false],
      ['scratch', true, true],
      ['pkg/generated', true, true],
      ['pkg/local.txt', false, true],
      ['pkg/sub/local.txt', false, false], // anchored to pkg/
      ['secret-notes.md', false, true],
      ['tmp/x', false, true],
      ['node_modules', true, true],
      ['.git', true, true],
      ['src/index.ts', false, false],
    ];
    for (const [rel, isDir, want] of cases) assert.equal(r.ignores(rel, isDir), want, `${rel}${isDir ? '/' : ''}`);
  });
});

describe('watchFiles', () => {
  test('reports adds, changes and removes with repo-relative paths; ignored paths never', async () => {
    const root = tree('events', { '.gitignore': 'build/\n', 'src/a.ts': 'a', 'build/x.js': 'x' });
    const seen: EventDraft[] = [];
    const w = watchFiles({ repo: root, onEvents: (d) => seen.push(...d), onError: (e) => assert.fail(e) });
    await w.ready;
    fs.writeFileSync(path.join(root, 'src/b.ts'), 'b');
    fs.writeFileSync(path.join(root, 'src/a.ts'), 'a2');
    fs.writeFileSync(path.join(root, 'build/y.js'), 'y');
    fs.rmSync(path.join(root, 'src/a.ts'));
    const has = (type: string, p: string) => seen.some((e) => e.type === type && 'path' in e && e.path === p);
    await waitFor(() => has('file.added', 'src/b.ts') && has('file.removed', 'src/a.ts'), { what: 'fs events' });
    await w.close();
    assert.ok(!seen.some((e) => 'path' in e && e.path.startsWith('build/')), 'ignored folder produced events');
    assert.ok(seen.every((e) => e.repo === root && e.origin === 'user'));
  });

  test('the daemon’s own writes are tagged origin: daemon', async () => {
    const root = tree('own', { 'a.txt': '1' });
    const seen: EventDraft[] = [];
    const w = watchFiles({ repo: root, onEvents: (d) => seen.push(...d), onError: () => {}, isOwnWrite: (rel) => rel === 'mine.txt' });
    await w.ready;
    fs.writeFileSync(path.join(root, 'mine.txt'), 'x');
    fs.writeFileSync(path.join(root, 'theirs.txt'), 'x');
    await waitFor(() => seen.length >= 2, { what: 'two events' });
    await w.close();
    assert.equal(seen.find((e) => 'path' in e && e.path === 'mine.txt')?.origin, 'daemon');
    assert.equal(seen.find((e) => 'path' in e && e.path === 'theirs.txt')?.origin, 'user');
  });

  test('a large ignored node_modules costs no inotify watches', async () => {
    const files: Record<string, string> = { '.gitignore': 'node_modules/\n' };
    for (let d = 0; d < 20; d++) files[`src/d${d}/f.ts`] = 'x';
    const root = tree('inotify', files);
    for (let p = 0; p < 400; p++) fs.mkdirSync(path.join(root, 'node_modules', `pkg${p}`, 'lib'), { recursive: true });
    const before = inotifyWatchCount();
    const w = watchFiles({ repo: root, onEvents: () => {}, onError: () => {} });
    await w.ready;
    const used = inotifyWatchCount() - before;
    await w.close();
    // chokidar holds one watch per folder and one per file it watches: root, src, 20 folders, 20 files
    // and .gitignore = 43. Walking node_modules would add 800 more.
    assert.ok(used >= 40, `watches used: ${used} (expected the source tree to be watched)`);
    assert.ok(used <= 50, `watches used: ${used}: ignored folders are being watched`);
  });
});
