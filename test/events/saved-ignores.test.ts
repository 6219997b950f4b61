/**
 * A restart keeps the ignored folders its snapshot was taken under, and walks the tree only after it
 * is ready, when nothing that decides them can have changed while Kairos was stopped
 * (src/events/saved-ignores.ts). Each input that could change them makes it walk first.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { savedIgnoresHold } from '../../src/events/saved-ignores.js';
import { ignoreInputs, type Baseline } from '../../src/events/tree-snapshot.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-savedignores-');
after(() => tmp.cleanup());

type Usable = Extract<Baseline, { usable: true }>;

describe('saved ignored folders hold across a restart', () => {
  const repo = path.join(tmp.dir, 'repo');
  fs.mkdirSync(path.join(repo, '.git', 'info'), { recursive: true });
  const base = (policy: string[]): Usable => ({ usable: true, writtenAt: new Date().toISOString(), ignoredDirs: ['.git'], rules: ignoreInputs(repo, policy), files: 1, dirs: 1 });

  test('the same policy patterns, no exclude file, no ignore file among the changes: they hold', () => {
    assert.equal(savedIgnoresHold(repo, base(['*.log']), ['*.log'], [{ rel: 'src/a.ts', kind: 'update' }]), true);
  });

  test('an ignore file among the changes, at any depth, in any kind of change: walk first', () => {
    for (const rel of ['.gitignore', 'pkg/.gitignore', 'a/b/.kairosignore'])
      for (const kind of ['create', 'update', 'delete'] as const) assert.equal(savedIgnoresHold(repo, base([]), [], [{ rel, kind }]), false, `${kind} ${rel}`);
  });

  test('other policy patterns, or none saved (a snapshot from an older version): walk first', () => {
    assert.equal(savedIgnoresHold(repo, base(['*.log']), ['*.tmp'], []), false);
    assert.equal(savedIgnoresHold(repo, base([]), ['build/'], []), false);
    const { rules: _rules, ...older } = base([]);
    assert.equal(savedIgnoresHold(repo, older, [], []), false);
    const { ignoredDirs: _dirs, ...noList } = base([]);
    assert.equal(savedIgnoresHold(repo, noList, [], []), false);
  });

  test('.git/info/exclude written, or removed, since the snapshot: walk first', () => {
    const exclude = path.join(repo, '.git', 'info', 'exclude');
    const before = base([]);
    fs.writeFileSync(exclude, 'out/\n');
    assert.equal(savedIgnoresHold(repo, before, [], []), false, 'created');
    const withFile = base([]);
    assert.equal(savedIgnoresHold(repo, withFile, [], []), true, 'unchanged');
    fs.utimesSync(exclude, new Date(), new Date(Date.now() + 5000));
    assert.equal(savedIgnoresHold(repo, withFile, [], []), false, 'written again');
    const again = base([]);
    fs.rmSync(exclude);
    assert.equal(savedIgnoresHold(repo, again, [], []), false, 'removed');
  });
});
