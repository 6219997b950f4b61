// grep against a hostile repository's file names (issue 14): a name with ':' must not pass for another
// path and line, a name with a newline must not split a match in two, and a secret file inside a
// folder with such a name must stay unread. Both greps: the base commit's (before the task's worktree
// exists) and the worktree's, each on a real git repository.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { grepBase, readBaseFile, type BaseScope } from '../../src/agent/tools/base-files.js';
import { grep, readFile, type FileScope } from '../../src/agent/tools/files.js';
import { ToolError } from '../../src/agent/tools/tool-error.js';
import { gitGrepMatches } from '../../src/agent/tools/grep-output.js';
import { makeRepo, type TestRepo } from '../support/git-repo.js';

const FILES: Record<string, string> = {
  'a:1:b.ts': 'line one\nneedle in colons\n',
  'n\né.ts': 'needle in newline\n',
  'src/plain.ts': 'const x = 1;\nconst y = 2;\nneedle plain\n',
  // Secret files, each in a folder whose name the old ':' / quoted-name parsing misread.
  'x:y/.env': 'needle SECRET_ONE\n',
  'q\nz/.env': 'needle SECRET_TWO\n',
};

/** What each grep must show: the path verbatim when plain, as a JSON string when it holds ':' or a control character. */
function assertAnswer(out: string): void {
  assert.match(out, /^"a:1:b\.ts":2:needle in colons$/m);
  assert.ok(out.includes('"n\\né.ts":1:needle in newline'), out);
  assert.match(out, /^src\/plain\.ts:3:needle plain$/m);
  assert.doesNotMatch(out, /SECRET_ONE|SECRET_TWO/);
  // Nothing else: no line of the answer is a fragment of a mis-split match.
  const body = out.split('\n').filter((l) => /:\d+:needle/.test(l));
  assert.equal(body.length, 3, out);
}

describe('grep reads git grep -z: hostile file names keep their path and line', { timeout: 30_000 }, () => {
  let repo: TestRepo;
  before(() => {
    repo = makeRepo({ prefix: 'kairos-grep-names-' });
    repo.commit('hostile names', FILES);
  });
  after(() => repo.cleanup());

  test('the base commit grep (before the worktree exists)', async () => {
    const scope: BaseScope = { gitDir: path.join(repo.dir, '.git'), base: repo.rev(), roots: [repo.dir], maxReadBytes: 100_000 };
    assertAnswer(await grepBase(scope, { pattern: 'needle' }));
    // The same secret file by name: refused as a secret (a glob's `*` does not cross the newline of its folder).
    await assert.rejects(readBaseFile(scope, { path: 'q\nz/.env' }), (e: unknown) => e instanceof ToolError && /secret files are never read/.test(e.message));
  });

  test('the worktree grep', async () => {
    const scope: FileScope = { root: repo.dir, maxReadBytes: 100_000, gitDir: path.join(repo.dir, '.git') };
    assertAnswer(await grep(scope, { pattern: 'needle' }));
    await assert.rejects(readFile(scope, { path: 'q\nz/.env' }), (e: unknown) => e instanceof ToolError && /secret/.test(e.message));
  });

  test('the parser: path, line and text field by field, the commit prefix removed, a cut-off record dropped', () => {
    const out = 'abc:a:1:b.ts\x002\x00x:3:y\nabc:n\nl.ts\x0010\x00t\nabc:cut\x001';
    assert.deepEqual(gitGrepMatches(out, 'abc:'), [
      { path: 'a:1:b.ts', line: 2, text: 'x:3:y' },
      { path: 'n\nl.ts', line: 10, text: 't' },
    ]);
  });
});
