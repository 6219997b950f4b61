import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { checkAgainstDisk, type RawChange, type Reported } from '../../src/events/disk-check.js';
import { IgnoreRules } from '../../src/events/ignore-rules.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-disk-check-');
after(() => tmp.cleanup());
let seq = 0;

/** A real folder with a .git, and a checker that keeps one burst's memory the way the sources do. */
function setup(): { repo: string; check: (changes: RawChange[]) => string[] } {
  const repo = path.join(tmp.dir, `tree-${++seq}`);
  fs.mkdirSync(path.join(repo, '.git'), { recursive: true });
  const rules = new IgnoreRules(repo);
  const reported: Reported = new Map();
  return {
    repo,
    check: (changes) =>
      checkAgainstDisk(changes, { repo, rules, origin: () => 'user', reported, onRefused: () => assert.fail('nothing here is refused') }).drafts.map(
        (d) => `${d.type} ${'path' in d ? d.path : ''}`,
      ),
  };
}

describe('checkAgainstDisk', () => {
  test('a create and its modify handed over in two batches are one add; a later real write is a change', () => {
    const { repo, check } = setup();
    fs.writeFileSync(path.join(repo, 'a.ts'), 'one');
    assert.deepEqual(check([{ rel: 'a.ts', kind: 'create' }]), ['file.added a.ts']);
    // The tail of the same write: the file is exactly as it was reported.
    assert.deepEqual(check([{ rel: 'a.ts', kind: 'update' }]), []);
    assert.deepEqual(check([{ rel: 'a.ts', kind: 'create' }]), []);
    // A write that changes the file (its size here; its times and inode otherwise) is news.
    fs.writeFileSync(path.join(repo, 'a.ts'), 'one and two');
    assert.deepEqual(check([{ rel: 'a.ts', kind: 'update' }]), ['file.changed a.ts']);
    // A chmod is news too (the executable bit matters to a build).
    fs.chmodSync(path.join(repo, 'a.ts'), 0o755);
    assert.deepEqual(check([{ rel: 'a.ts', kind: 'update' }]), ['file.changed a.ts']);
  });

  test('a removal only for a path that is gone, once; a file put back is an add', () => {
    const { repo, check } = setup();
    fs.writeFileSync(path.join(repo, 'b.ts'), 'b');
    assert.deepEqual(check([{ rel: 'b.ts', kind: 'create' }]), ['file.added b.ts']);
    assert.deepEqual(check([{ rel: 'b.ts', kind: 'delete' }]), [], 'the file still exists: no removal');
    fs.rmSync(path.join(repo, 'b.ts'));
    assert.deepEqual(check([{ rel: 'b.ts', kind: 'delete' }]), ['file.removed b.ts']);
    assert.deepEqual(check([{ rel: 'b.ts', kind: 'delete' }]), [], 'already reported gone');
    fs.writeFileSync(path.join(repo, 'b.ts'), 'b');
    assert.deepEqual(check([{ rel: 'b.ts', kind: 'update' }]), ['file.added b.ts']);
  });

  test('one event per path per batch: create, update and delete of a file that exists are one add', () => {
    const { repo, check } = setup();
    fs.writeFileSync(path.join(repo, 'c.ts'), 'c');
    const changes: RawChange[] = [
      { rel: 'c.ts', kind: 'create' },
      { rel: 'c.ts', kind: 'update' },
      { rel: 'c.ts', kind: 'delete' },
      { rel: 'c.ts', kind: 'update' },
    ];
    assert.deepEqual(check(changes), ['file.added c.ts']);
    assert.deepEqual(check([{ rel: 'gone.ts', kind: 'create' }]), [], 'created and removed before it was looked at: nothing');
  });
});
