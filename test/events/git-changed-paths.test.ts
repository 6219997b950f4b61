import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { changedPaths, withChangedPaths } from '../../src/events/git-changed-paths.js';
import type { EventDraft } from '../../src/events/event.js';
import { makeRepo } from '../support/git-repo.js';

const repo = makeRepo();
after(() => repo.cleanup());

test('work-tree-moving git events carry the paths git changed; others are left alone', () => {
  repo.write('a.txt', '1');
  repo.write('keep.txt', 'k');
  const from = repo.commit('one');
  repo.write('a.txt', '2');
  repo.write('dir/new.txt', 'n');
  repo.git('rm', '-q', 'keep.txt');
  const to = repo.commit('two');
  assert.deepEqual(changedPaths(repo.dir, from, to)?.sort(), ['a.txt', 'dir/new.txt', 'keep.txt']);
  const at = new Date().toISOString();
  const drafts: EventDraft[] = [
    { type: 'git.checkout', repo: repo.dir, at, origin: 'user', data: { fromSha: from, toSha: to } },
    { type: 'git.commit', repo: repo.dir, at, origin: 'user', data: { from, to } },
    { type: 'git.rebase', repo: repo.dir, at, origin: 'user', data: { phase: 'start', from, to } },
    { type: 'git.reset', repo: repo.dir, at, origin: 'user', data: { from: 'f'.repeat(40), to } },
  ];
  const out = withChangedPaths(repo.dir, drafts);
  assert.deepEqual(((out[0]!.data as { paths: string[] }).paths).sort(), ['a.txt', 'dir/new.txt', 'keep.txt']);
  assert.equal('paths' in out[1]!.data, false, 'a commit does not rewrite the work tree');
  assert.equal('paths' in out[2]!.data, false, 'a rebase start has not changed anything yet');
  assert.equal('paths' in out[3]!.data, false, 'an unknown commit leaves the event as it was');
});
