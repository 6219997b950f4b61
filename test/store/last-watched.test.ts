/**
 * `kairos run` reads the repositories the last run watched before the daemon holds its lock
 * (src/store/last-watched.ts): read-only, so it never migrates or changes the store, and any problem
 * is an empty list (the daemon then reads the store properly and says what is wrong).
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openDb, storePath } from '../../src/store/db.js';
import { lastWatchedRepos } from '../../src/store/last-watched.js';
import { RepoStore } from '../../src/store/repo-store.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-lastwatched-');
after(() => tmp.cleanup());

describe('the repositories the last run watched', () => {
  test('no store yet: none, and no store is made', () => {
    const home = path.join(tmp.dir, 'fresh');
    assert.deepEqual(lastWatchedRepos(home), []);
    assert.equal(fs.existsSync(storePath(home)), false);
  });

  test('the watched ones, not the unwatched, and the store is left as it was', () => {
    const home = path.join(tmp.dir, 'used');
    const db = openDb(storePath(home));
    const repos = new RepoStore(db);
    const at = new Date().toISOString();
    repos.setWatched('/r/b', true, at);
    repos.setWatched('/r/a', true, at);
    repos.setWatched('/r/gone', false, at);
    db.close();
    const before = fs.readFileSync(storePath(home));
    assert.deepEqual(lastWatchedRepos(home), ['/r/a', '/r/b']);
    assert.ok(fs.readFileSync(storePath(home)).equals(before), 'reading changed the store');
  });

  test('a file that is not a store, or a store without the table: none', () => {
    const junk = path.join(tmp.dir, 'junk');
    fs.mkdirSync(junk);
    fs.writeFileSync(storePath(junk), 'not a database');
    assert.deepEqual(lastWatchedRepos(junk), []);
    const empty = path.join(tmp.dir, 'empty');
    fs.mkdirSync(empty);
    openDb(storePath(empty)).close();
    fs.rmSync(storePath(empty));
    fs.writeFileSync(storePath(empty), '');
    assert.deepEqual(lastWatchedRepos(empty), []);
  });
});
