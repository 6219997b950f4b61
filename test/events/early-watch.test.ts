/**
 * `kairos run` begins watching before the daemon has loaded (src/events/early-watch.ts); the tree's
 * watcher takes over what matches and the rest is closed. Real @parcel/watcher on inotify, real trees:
 * a first start's walk and subscription are taken over with the events that arrived meanwhile, in
 * order; what does not match is refused; what nobody takes releases its watches; a restart's offline
 * comparison, run early, lists what changed while stopped.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { beginEarlyWatch, releaseEarlyStarts, takeEarlyStart } from '../../src/events/early-watch.js';
import type { RawChange } from '../../src/events/disk-check.js';
import { watchFiles } from '../../src/events/fs-source.js';
import { NativeTree } from '../../src/events/native-tree.js';
import { TreeSnapshot } from '../../src/events/tree-snapshot.js';
import { chooseEngine } from '../../src/events/watch-engine.js';
import { inotifyWatchCount } from '../support/inotify.js';
import { waitFor } from '../support/kairos.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-earlywatch-');
after(() => tmp.cleanup());
const env = { ...process.env, KAIROS_WATCHER: 'native' };

function makeTree(name: string): string {
  const repo = path.join(tmp.dir, name);
  fs.mkdirSync(path.join(repo, '.git'), { recursive: true });
  fs.mkdirSync(path.join(repo, 'out'), { recursive: true });
  fs.mkdirSync(path.join(repo, 'src'), { recursive: true });
  fs.writeFileSync(path.join(repo, '.gitignore'), 'out/\n');
  fs.writeFileSync(path.join(repo, 'out', 'x.js'), 'x');
  fs.writeFileSync(path.join(repo, 'src', 'a.ts'), 'a');
  return repo;
}

describe('early watch', () => {
  test('a first start: the walk and the subscription are taken over, with the events that came before, in order', async () => {
    const { parcel, backend } = await chooseEngine(env);
    assert.ok(parcel && backend === 'inotify');
    const repo = makeTree('first');
    await beginEarlyWatch({ repo, home: path.join(tmp.dir, 'home-first'), env });
    const early = takeEarlyStart(repo, backend);
    assert.ok(early, 'the tree was begun');
    assert.equal(takeEarlyStart(repo, backend), undefined, 'taken once');
    assert.equal(await early.scanFor(['*.log']), undefined, 'a walk without the policy patterns is no walk under them');
    const scan = await early.scanFor([]);
    assert.ok(scan);
    assert.deepEqual(scan.ignoredDirs, ['.git', 'out']);
    assert.equal(await early.subscriptionFor(['.git']), undefined, 'another list of ignored folders is not taken over');

    // A witness on the same tree: once it has seen a write, the early subscription (registered
    // first on parcel's shared watcher) has received it too, with nobody attached yet.
    const seen: string[] = [];
    const witness = await parcel.subscribe(repo, (_e, evs) => evs.forEach((e) => seen.push(path.relative(repo, e.path))), { backend, ignore: scan.ignoredDirs.map((d) => path.join(repo, d)) });
    fs.writeFileSync(path.join(repo, 'src', 'b.ts'), 'b');
    fs.writeFileSync(path.join(repo, 'src', 'c.ts'), 'c');
    await waitFor(() => seen.includes('src/b.ts') && seen.includes('src/c.ts'), { what: 'the witness sees both writes' });

    const sub = await early.subscriptionFor(scan.ignoredDirs);
    assert.ok(sub, 'the same list is taken over');
    const changes: RawChange[] = [];
    const tree = await NativeTree.subscribe({ parcel, backend, repo, ignoredDirs: scan.ignoredDirs, onChanges: (c) => changes.push(...c), onError: (e) => assert.fail(e) }, sub);
    const held = changes.map((c) => c.rel).filter((r) => r.startsWith('src/'));
    assert.deepEqual(held, ['src/b.ts', 'src/c.ts'], 'held events are handed over at once, in order');
    fs.writeFileSync(path.join(repo, 'src', 'd.ts'), 'd');
    await waitFor(() => changes.some((c) => c.rel === 'src/d.ts'), { what: 'a live event after the take-over' });
    await early.release(); // taken over: releasing does not close it
    fs.writeFileSync(path.join(repo, 'src', 'e.ts'), 'e');
    await waitFor(() => changes.some((c) => c.rel === 'src/e.ts'), { what: 'still watching after release' });
    await tree.close();
    await witness.unsubscribe();
  });

  test('a start nobody takes over is closed, and its watches with it', async () => {
    const repo = makeTree('untaken');
    const before = inotifyWatchCount();
    await beginEarlyWatch({ repo, home: path.join(tmp.dir, 'home-untaken'), env });
    await waitFor(() => inotifyWatchCount() >= before + 2, { what: 'the early subscription watches src/ and the root' });
    assert.equal(await releaseEarlyStarts(), 1);
    await waitFor(() => inotifyWatchCount() === before, { what: 'its watches are gone' });
    assert.equal(takeEarlyStart(repo, 'inotify'), undefined);
  });

  test('a restart: the early comparison with the snapshot lists what changed while stopped', async () => {
    const repo = makeTree('restart');
    const home = path.join(tmp.dir, 'home-restart');
    const snapshotDir = path.join(home, 'watch');
    const w = watchFiles({ repo, env, snapshotDir, onEvents: () => {}, onError: (e) => assert.fail(e) });
    await w.ready;
    fs.writeFileSync(path.join(repo, 'src', 'a.ts'), 'a2'); // something changed: the stop writes the snapshot
    await w.close();
    // While stopped:
    fs.writeFileSync(path.join(repo, 'src', 'new.ts'), 'n');
    fs.rmSync(path.join(repo, 'src', 'a.ts'));
    fs.writeFileSync(path.join(repo, 'out', 'ignored.js'), 'i');

    await beginEarlyWatch({ repo, home, env });
    const early = takeEarlyStart(repo, 'inotify');
    assert.ok(early);
    const snap = new TreeSnapshot(snapshotDir, repo, 'inotify');
    const base = snap.baseline();
    assert.ok(base.usable && base.ignoredDirs);
    assert.equal(await early.scanFor([]), undefined, 'a restart does not walk early');
    const sub = await early.subscriptionFor(base.ignoredDirs);
    assert.ok(sub);
    const offline = await early.offlineFor(snap.file);
    assert.ok(offline, 'the comparison ran under the subscription taken over');
    const got = offline.map((e) => `${e.type} ${path.relative(repo, e.path)}`).sort();
    assert.deepEqual(got, ['create src/new.ts', 'delete src/a.ts']);
    assert.equal(early.offlineFor(snap.file + '.other'), undefined, 'only for the snapshot it compared with');
    await sub.handle?.unsubscribe();
  });
});
