/**
 * The snapshot's metadata keeps the ignored folders it was taken under, for the next start to
 * subscribe under at once (native-source.ts). The list is read back from a file, so it is checked:
 * anything but repo-relative folders leaves the start without a hint (it scans first, as a first
 * start does), never with a list that reaches outside the tree.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { watchFiles } from '../../src/events/fs-source.js';
import { TreeSnapshot } from '../../src/events/tree-snapshot.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-snapignored-');
after(() => tmp.cleanup());

describe('snapshot metadata: the ignored folders', () => {
  test('a stop saves the ignored folders beside the snapshot; a hostile or malformed list is no hint', async () => {
    const repo = path.join(tmp.dir, 'repo');
    fs.mkdirSync(path.join(repo, '.git'), { recursive: true });
    fs.mkdirSync(path.join(repo, 'build', 'out'), { recursive: true });
    fs.mkdirSync(path.join(repo, 'pkg', 'gen'), { recursive: true });
    fs.writeFileSync(path.join(repo, '.gitignore'), 'build/\n');
    fs.writeFileSync(path.join(repo, 'pkg', '.gitignore'), 'gen/\n');
    const snapshotDir = path.join(tmp.dir, 'snapshots');
    const w = watchFiles({ repo, env: { ...process.env, KAIROS_WATCHER: 'native' }, snapshotDir, onEvents: () => {}, onError: (e) => assert.fail(e) });
    await w.ready;
    fs.writeFileSync(path.join(repo, 'a.ts'), 'a'); // something changed: the stop writes the snapshot again
    await w.close();

    const snap = new TreeSnapshot(snapshotDir, repo, 'inotify');
    const base = snap.baseline();
    assert.ok(base.usable, 'the snapshot is usable');
    assert.deepEqual(base.ignoredDirs, ['.git', 'build', 'pkg/gen']);

    const metaFile = snap.file.replace(/\.snapshot$/, '.json');
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as Record<string, unknown>;
    for (const bad of [['../outside'], ['/etc'], ['build/../..'], [''], ['a//b'], 'build', [1], { 0: 'build' }]) {
      fs.writeFileSync(metaFile, JSON.stringify({ ...meta, ignoredDirs: bad }));
      const b = snap.baseline();
      assert.ok(b.usable, `the snapshot itself stays usable with ignoredDirs ${JSON.stringify(bad)}`);
      assert.equal(b.ignoredDirs, undefined, `${JSON.stringify(bad)} was taken as a hint`);
    }
    // A snapshot from before the field: usable, no hint.
    const { ignoredDirs: _dropped, ...older } = meta;
    fs.writeFileSync(metaFile, JSON.stringify(older));
    const b = snap.baseline();
    assert.ok(b.usable && b.ignoredDirs === undefined);
  });
});
