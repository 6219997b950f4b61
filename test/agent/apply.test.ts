import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeRepo, makeRepoFrom, type TestRepo } from '../support/git-repo.js';
import { tempDir } from '../support/temp.js';
import { openDb, storePath, type Db } from '../../src/store/db.js';
import { ProposalStore } from '../../src/store/proposal-store.js';
import { makeProposal, type Proposal } from '../../src/agent/proposal.js';
import { createTaskWorktree, type TaskWorktree } from '../../src/agent/worktree.js';
import { applyProposal, ApplyError, recoverInterruptedApplies, undoProposal, type ApplyErrorCode } from '../../src/agent/apply.js';
import { COMPILED, REPO_ROOT, TS_LOADER } from '../support/paths.js';
import { snapshotTree } from '../support/tree-hash.js';

process.env.GIT_CONFIG_GLOBAL = '/dev/null';
process.env.GIT_CONFIG_NOSYSTEM = '1';

const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups.reverse()) c();
});

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const TEN = Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
const BIN_V1 = Buffer.from([0, 1, 2, 3, 255, 254, 253, 0, 10, 13, 0]);
const BIN_V2 = Buffer.from([0, 9, 9, 9, 255, 0, 128, 10]);


function indexHash(repo: TestRepo): string {
  return sha256(fs.readFileSync(path.join(repo.dir, '.git', 'index')));
}

function changedKeys(a: Record<string, string>, b: Record<string, string>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort();
}

interface Fixture {
  repo: TestRepo;
  home: string;
  db: Db;
  dbFile: string;
  wt: TaskWorktree;
  p: Proposal;
}

let nextTask = 1;

/**
 * A repository with text, binary, executable, to-be-deleted, ignored and untracked files, and a
 * proposal that edits, creates (in new folders), deletes, changes a binary and flips an executable bit.
 */
async function fixture(opts: { agent?: (wtDir: string) => void; user?: (repo: TestRepo) => void; includeUncommitted?: boolean } = {}): Promise<Fixture> {
  // The same two commits start every fixture: made once per process, copied per test.
  const repo = makeRepoFrom('apply-fixture', (r) => {
    r.commit('files', {
      '.gitignore': '*.log\n',
      'src/a.txt': TEN,
      'gone.txt': 'delete me\n',
      'tool.sh': '#!/bin/sh\necho tool\n',
      'run.sh': '#!/bin/sh\necho run\n',
      'img.bin': '',
    });
    fs.writeFileSync(path.join(r.dir, 'img.bin'), BIN_V1);
    fs.chmodSync(path.join(r.dir, 'run.sh'), 0o755);
    r.commit('binary and exec');
  });
  const home = tempDir('kairos-home-');
  const dbFile = storePath(home.dir);
  const db = openDb(dbFile);
  cleanups.push(repo.cleanup, home.cleanup, () => db.close());
  repo.write('debug.log', 'ignored by the user\n');
  repo.write('notes.md', 'untracked by the user\n');
  opts.user?.(repo);
  const taskId = nextTask++;
  const wt = await createTaskWorktree({ repo: repo.dir, taskId, home: home.dir, includeUncommitted: opts.includeUncommitted ?? false });
  const agent =
    opts.agent ??
    ((d: string): void => {
      fs.writeFileSync(path.join(d, 'src/a.txt'), TEN.replace('line 2\n', 'line two\n'));
      fs.mkdirSync(path.join(d, 'new/deep'), { recursive: true });
      fs.writeFileSync(path.join(d, 'new/deep/n.txt'), 'created\n');
      fs.rmSync(path.join(d, 'gone.txt'));
      fs.writeFileSync(path.join(d, 'img.bin'), BIN_V2);
      fs.chmodSync(path.join(d, 'tool.sh'), 0o755);
      fs.chmodSync(path.join(d, 'run.sh'), 0o644);
    });
  agent(wt.dir);
  const p = await makeProposal({ db, repo: repo.dir, worktreeDir: wt.dir, base: wt.base, taskId, summary: 'fix', costMicros: 10 });
  return { repo, home: home.dir, db, dbFile, wt, p };
}

function isApplyError(code: ApplyErrorCode) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ApplyError, `expected ApplyError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  };
}

const state = (f: Fixture): string => new ProposalStore(f.db).get(f.p.id)!.state;

describe('before approval', () => {
  test("the user's tree and index are byte-identical whatever the agent does in the worktree", async () => {
    let before: Record<string, string> = {};
    let idx = '';
    let status = '';
    const f = await fixture({
      user: (repo) => {
        before = snapshotTree(repo.dir);
        idx = indexHash(repo);
        status = repo.git('status', '--porcelain', '--ignored', '--untracked-files=all');
      },
      agent: (d) => {
        fs.writeFileSync(path.join(d, 'src/a.txt'), 'rewritten\n');
        fs.writeFileSync(path.join(d, 'debug.log'), 'agent log\n');
        fs.writeFileSync(path.join(d, 'notes.md'), 'agent notes\n');
        fs.rmSync(path.join(d, 'run.sh'));
      },
    });
    assert.deepEqual(snapshotTree(f.repo.dir), before);
    assert.equal(indexHash(f.repo), idx);
    assert.equal(f.repo.git('status', '--porcelain', '--ignored', '--untracked-files=all'), status);
  });
});

describe('applyProposal', () => {
  test('with the right hash changes exactly the proposed files, to the worktree bytes and modes, and leaves the index alone', async () => {
    const f = await fixture();
    const before = snapshotTree(f.repo.dir);
    const idx = indexHash(f.repo);
    const seen: string[][] = [];
    const res = await applyProposal({
      db: f.db,
      proposalId: f.p.id,
      hash: f.p.hash,
      repo: f.repo.dir,
      onBeforeWrite: (paths) => {
        // Called before the first write: the tree still holds the old bytes.
        assert.deepEqual(snapshotTree(f.repo.dir), before);
        seen.push(paths);
      },
    });
    assert.deepEqual([...res.files].sort(), [...f.p.files].sort());
    assert.deepEqual([...f.p.files].sort(), ['gone.txt', 'img.bin', 'new/deep/n.txt', 'run.sh', 'src/a.txt', 'tool.sh']);
    assert.equal(seen.length, 1);
    for (const file of f.p.files) assert.ok(seen[0]!.includes(file), file);

    const after = snapshotTree(f.repo.dir);
    assert.deepEqual(changedKeys(before, after), ['gone.txt', 'img.bin', 'new', 'new/deep', 'new/deep/n.txt', 'run.sh', 'src/a.txt', 'tool.sh']);
    for (const rel of ['src/a.txt', 'new/deep/n.txt', 'img.bin', 'tool.sh', 'run.sh']) {
      assert.ok(fs.readFileSync(path.join(f.repo.dir, rel)).equals(fs.readFileSync(path.join(f.wt.dir, rel))), rel);
    }
    assert.equal(fs.statSync(path.join(f.repo.dir, 'tool.sh')).mode & 0o111, 0o111);
    assert.equal(fs.statSync(path.join(f.repo.dir, 'run.sh')).mode & 0o111, 0);
    assert.equal(fs.existsSync(path.join(f.repo.dir, 'gone.txt')), false);
    assert.equal(indexHash(f.repo), idx, 'the index is untouched: changes show as unstaged');
    assert.equal(f.repo.git('diff', '--cached', '--name-only'), '');
    assert.equal(state(f), 'applied');

    await assert.rejects(applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir }), isApplyError('already_applied'));
  });

  test('a wrong hash is refused and the tree is unchanged', async () => {
    const f = await fixture();
    const before = snapshotTree(f.repo.dir);
    for (const hash of [sha256('something else'), '', f.p.hash.slice(0, 12)]) {
      await assert.rejects(applyProposal({ db: f.db, proposalId: f.p.id, hash, repo: f.repo.dir }), isApplyError('hash_mismatch'));
    }
    assert.deepEqual(snapshotTree(f.repo.dir), before);
    assert.equal(state(f), 'proposed');
    // The hash may be pasted in upper case or with a newline.
    await applyProposal({ db: f.db, proposalId: f.p.id, hash: ` ${f.p.hash.toUpperCase()}\n`, repo: f.repo.dir });
  });

  test('a stored diff changed after it was shown is refused, even with the hash the user approved', async () => {
    const f = await fixture();
    const before = snapshotTree(f.repo.dir);
    const tampered = Buffer.from(f.p.diff.toString('latin1').replace('+line two', '+line 2; rm -rf ~'), 'latin1');
    f.db.prepare('UPDATE proposals SET diff = ? WHERE id = ?').run(tampered, f.p.id);
    await assert.rejects(applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir }), isApplyError('hash_mismatch'));
    // Rewriting the stored hash too does not help: the approved hash no longer matches.
    f.db.prepare('UPDATE proposals SET hash = ? WHERE id = ?').run(sha256(tampered), f.p.id);
    await assert.rejects(applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir }), isApplyError('hash_mismatch'));
    assert.deepEqual(snapshotTree(f.repo.dir), before);
  });

  test('a user edit that conflicts with the proposal → conflict, and the tree is byte-identical', async () => {
    const f = await fixture();
    f.repo.write('src/a.txt', TEN.replace('line 2\n', 'line 2 by the user\n'));
    const before = snapshotTree(f.repo.dir);
    const idx = indexHash(f.repo);
    await assert.rejects(applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir }), (e: unknown) => {
      isApplyError('conflict')(e);
      assert.match((e as Error).message, /merge conflict in src\/a\.txt/);
      return true;
    });
    assert.deepEqual(snapshotTree(f.repo.dir), before);
    assert.equal(indexHash(f.repo), idx);
    assert.equal(state(f), 'proposed');
    // Once the user's edit is gone the same proposal applies.
    f.repo.write('src/a.txt', TEN);
    await applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir });
    assert.equal(state(f), 'applied');
  });

  test('a user file in the way of a created file, or a folder where a file goes → conflict, nothing written', async () => {
    const f = await fixture();
    f.repo.write('new/deep/n.txt', 'the user made this\n');
    const before = snapshotTree(f.repo.dir);
    await assert.rejects(applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir }), isApplyError('conflict'));
    assert.deepEqual(snapshotTree(f.repo.dir), before);

    fs.rmSync(path.join(f.repo.dir, 'new'), { recursive: true });
    fs.mkdirSync(path.join(f.repo.dir, 'new/deep/n.txt'), { recursive: true });
    const before2 = snapshotTree(f.repo.dir);
    await assert.rejects(applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir }), isApplyError('conflict'));
    assert.deepEqual(snapshotTree(f.repo.dir), before2);
  });

  test("a user edit elsewhere in a touched file is merged (3-way) and kept; undo brings back the user's version", async () => {
    const f = await fixture();
    // Line 5 is context of the proposal's hunk, so a plain `git apply` would refuse; the 3-way merge does not.
    const userVersion = 'header by the user\n' + TEN.replace('line 5\n', 'line five by the user\n').replace('line 9\n', 'line nine\n');
    f.repo.write('src/a.txt', userVersion);
    const before = snapshotTree(f.repo.dir);
    await applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir });
    assert.equal(
      fs.readFileSync(path.join(f.repo.dir, 'src/a.txt'), 'utf8'),
      'header by the user\n' + TEN.replace('line 2\n', 'line two\n').replace('line 5\n', 'line five by the user\n').replace('line 9\n', 'line nine\n'),
    );
    await undoProposal({ db: f.db, proposalId: f.p.id, repo: f.repo.dir });
    assert.deepEqual(snapshotTree(f.repo.dir), before);
  });

  test('the proposal applies on top of carried uncommitted changes, which stay; the index is untouched', async () => {
    const f = await fixture({
      includeUncommitted: true,
      user: (repo) => {
        repo.write('src/a.txt', TEN.replace('line 8\n', 'line 8 dirty\n'));
        repo.write('staged.txt', 'staged by the user\n');
        repo.git('add', 'staged.txt');
      },
      agent: (d) => {
        fs.writeFileSync(path.join(d, 'src/a.txt'), TEN.replace('line 8\n', 'line 8 dirty\n').replace('line 2\n', 'line two\n'));
        fs.writeFileSync(path.join(d, 'staged.txt'), 'staged by the user\nand the agent\n');
      },
    });
    assert.deepEqual([...f.p.files].sort(), ['src/a.txt', 'staged.txt']);
    assert.doesNotMatch(f.p.diff.toString('utf8'), /^\+line 8 dirty/m, 'the user’s change is in the base, not the diff');
    const idx = indexHash(f.repo);
    await applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir });
    assert.equal(fs.readFileSync(path.join(f.repo.dir, 'src/a.txt'), 'utf8'), TEN.replace('line 8\n', 'line 8 dirty\n').replace('line 2\n', 'line two\n'));
    assert.equal(fs.readFileSync(path.join(f.repo.dir, 'staged.txt'), 'utf8'), 'staged by the user\nand the agent\n');
    assert.equal(indexHash(f.repo), idx);
    assert.equal(f.repo.git('diff', '--cached', '--name-only'), 'staged.txt\n', 'what the user had staged is still staged, nothing more');
  });

  test('refuses a proposal of another repository, an unknown id and a discarded proposal', async () => {
    const f = await fixture();
    const other = makeRepo();
    cleanups.push(other.cleanup);
    await assert.rejects(applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: other.dir }), isApplyError('wrong_repo'));
    await assert.rejects(applyProposal({ db: f.db, proposalId: 'nope', hash: f.p.hash, repo: f.repo.dir }), isApplyError('not_found'));
    assert.equal(new ProposalStore(f.db).discard(f.p.id), true);
    await assert.rejects(applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir }), isApplyError('discarded'));
  });

  test('a diff that passes the hash checks but names paths outside the tree, inside .git, or through a symlink is refused', async () => {
    const f = await fixture();
    const outside = tempDir('kairos-outside-');
    cleanups.push(outside.cleanup);
    const store = new ProposalStore(f.db);
    const newFile = (rel: string): Buffer =>
      Buffer.from(`diff --git a/${rel} b/${rel}\nnew file mode 100644\nindex 0000000..e69de29\n--- /dev/null\n+++ b/${rel}\n@@ -0,0 +1 @@\n+pwned\n`);
    const before = snapshotTree(f.repo.dir);
    for (const rel of ['../escape.txt', '.git/hooks/pre-commit', 'a/../../escape.txt']) {
      const diff = newFile(rel);
      const p = store.insert({ ...f.p, diff, hash: sha256(diff), files: [rel] });
      await assert.rejects(applyProposal({ db: f.db, proposalId: p.id, hash: p.hash, repo: f.repo.dir }), (e: unknown) => {
        assert.ok(e instanceof ApplyError && (e.code === 'unsafe_path' || e.code === 'conflict'), String(e));
        return true;
      });
    }
    fs.symlinkSync(outside.dir, path.join(f.repo.dir, 'linked'));
    const before2 = snapshotTree(f.repo.dir);
    const diff = newFile('linked/escape.txt');
    const p = store.insert({ ...f.p, diff, hash: sha256(diff), files: ['linked/escape.txt'] });
    await assert.rejects(applyProposal({ db: f.db, proposalId: p.id, hash: p.hash, repo: f.repo.dir }), isApplyError('unsafe_path'));
    assert.deepEqual(fs.readdirSync(outside.dir), []);
    assert.equal(fs.existsSync(path.join(f.repo.dir, '..', 'escape.txt')), false);
    assert.deepEqual(snapshotTree(f.repo.dir), before2);
    delete before2['linked'];
    assert.deepEqual(before2, before);
    assert.equal(fs.existsSync(path.join(f.repo.dir, '.git', 'hooks', 'pre-commit')), false);
  });

  test('a stored diff whose content the proposal rules forbid (an outside symlink, a driver line, .gitmodules, .GIT) is refused before any write', async () => {
    const f = await fixture();
    const store = new ProposalStore(f.db);
    const before = snapshotTree(f.repo.dir);
    const make = (rel: string, mode: string, body: string): Buffer =>
      Buffer.from(`diff --git a/${rel} b/${rel}\nnew file mode ${mode}\n--- /dev/null\n+++ b/${rel}\n@@ -0,0 +1 @@\n+${body}\n\\ No newline at end of file\n`);
    const cases: Array<[string, Buffer, RegExp]> = [
      ['passwd-link', make('passwd-link', '120000', '/etc/passwd'), /symlink to an absolute path/],
      ['up-link', make('up-link', '120000', '../../outside'), /symlink that points outside the tree/],
      ['.gitattributes', make('.gitattributes', '100644', '* filter=x'), /selects a filter, diff or merge driver/],
      ['.gitmodules', make('.gitmodules', '100644', '[submodule "x"]'), /submodule configuration/],
      ['sub/.GIT/config', make('sub/.GIT/config', '100644', '[core]'), /not a plain path/],
      ['.husky/pre-commit', make('.husky/pre-commit', '100644', 'curl x | sh'), /git hook configuration/],
    ];
    for (const [rel, diff, why] of cases) {
      const p = store.insert({ ...f.p, diff, hash: sha256(diff), files: [rel] });
      await assert.rejects(applyProposal({ db: f.db, proposalId: p.id, hash: p.hash, repo: f.repo.dir }), (e: unknown) => {
        assert.ok(e instanceof ApplyError && e.code === 'unsafe_path', `${rel}: ${String(e)}`);
        assert.match(e.message, why, rel);
        return true;
      });
    }
    assert.deepEqual(snapshotTree(f.repo.dir), before);
  });

  test('two concurrent applies of one proposal: exactly one writes, the other gets already_applied', async () => {
    const f = await fixture();
    const writes: string[] = [];
    const one = (): Promise<unknown> =>
      applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir, onBeforeWrite: () => void writes.push('w') });
    const results = await Promise.allSettled([one(), one()]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    isApplyError('already_applied')(lost.reason);
    assert.equal(writes.length, 1);
  });

  test('two processes applying the same proposal on one store: exactly one wins', async () => {
    const f = await fixture();
    // The modules under test, compiled or from source, whichever this run is.
    const mod = path.join(REPO_ROOT, COMPILED ? 'dist/src/agent/apply.js' : 'src/agent/apply.ts');
    const dbMod = path.join(REPO_ROOT, COMPILED ? 'dist/src/store/db.js' : 'src/store/db.ts');
    const startAt = Date.now() + 1500;
    const script = `
      const { applyProposal } = await import(${JSON.stringify(mod)});
      const { openDb } = await import(${JSON.stringify(dbMod)});
      const [file, id, hash, repo, startAt] = process.argv.slice(1);
      const db = openDb(file);
      while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 2));
      try { await applyProposal({ db, proposalId: id, hash, repo }); process.stdout.write('applied'); }
      catch (e) { process.stdout.write(e.code ?? String(e)); }
    `;
    const run = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [...TS_LOADER, '--input-type=module', '-e', script, f.dbFile, f.p.id, f.p.hash, f.repo.dir, String(startAt)], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (b: Buffer) => (out += b.toString()));
        child.on('error', reject);
        child.on('close', () => resolve(out));
      });
    const outs = await Promise.all([run(), run(), run()]);
    assert.deepEqual(outs.sort(), ['already_applied', 'already_applied', 'applied']);
    assert.equal(fs.readFileSync(path.join(f.repo.dir, 'src/a.txt'), 'utf8'), TEN.replace('line 2\n', 'line two\n'));
  });
});

describe('undoProposal', () => {
  test('restores the exact pre-apply bytes and modes: created file and folders removed, deleted file back, binary, executable bits', async () => {
    const f = await fixture();
    const before = snapshotTree(f.repo.dir);
    const idx = indexHash(f.repo);
    await applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir });
    assert.notDeepEqual(snapshotTree(f.repo.dir), before);
    const paths: string[][] = [];
    const r = await undoProposal({ db: f.db, proposalId: f.p.id, repo: f.repo.dir, onBeforeWrite: (p) => void paths.push(p) });
    assert.deepEqual([...r.restored].sort(), [...f.p.files].sort());
    assert.equal(paths.length, 1);
    assert.deepEqual(snapshotTree(f.repo.dir), before);
    assert.ok(fs.readFileSync(path.join(f.repo.dir, 'img.bin')).equals(BIN_V1));
    assert.equal(fs.existsSync(path.join(f.repo.dir, 'new')), false);
    assert.equal(indexHash(f.repo), idx);
    assert.equal(state(f), 'undone');
    await assert.rejects(undoProposal({ db: f.db, proposalId: f.p.id, repo: f.repo.dir }), isApplyError('not_applied'));
    // An undone proposal can be applied again.
    await applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir });
    assert.equal(state(f), 'applied');
  });

  test('refuses (changed_since) when the user changed an applied file, leaving the tree as it is; force restores anyway', async () => {
    const f = await fixture();
    const before = snapshotTree(f.repo.dir);
    await applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir });
    f.repo.write('new/deep/n.txt', 'the user kept working here\n');
    const edited = snapshotTree(f.repo.dir);
    await assert.rejects(undoProposal({ db: f.db, proposalId: f.p.id, repo: f.repo.dir }), (e: unknown) => {
      isApplyError('changed_since')(e);
      assert.deepEqual((e as ApplyError).files, ['new/deep/n.txt']);
      return true;
    });
    assert.deepEqual(snapshotTree(f.repo.dir), edited);
    assert.equal(state(f), 'applied');
    // A changed executable bit counts as a change too.
    f.repo.write('new/deep/n.txt', 'created\n');
    fs.chmodSync(path.join(f.repo.dir, 'img.bin'), 0o755);
    await assert.rejects(undoProposal({ db: f.db, proposalId: f.p.id, repo: f.repo.dir }), isApplyError('changed_since'));
    await undoProposal({ db: f.db, proposalId: f.p.id, repo: f.repo.dir, force: true });
    assert.deepEqual(snapshotTree(f.repo.dir), before);
  });

  test('symlinks are applied and undone as links', async () => {
    const f = await fixture({
      user: (repo) => {
        fs.symlinkSync('src/a.txt', path.join(repo.dir, 'link'));
        repo.git('add', 'link');
        repo.git('commit', '-qm', 'link');
      },
      agent: (d) => {
        fs.rmSync(path.join(d, 'link'));
        fs.symlinkSync('gone.txt', path.join(d, 'link'));
        fs.symlinkSync('../tool.sh', path.join(d, 'src/tool-link'));
      },
    });
    const before = snapshotTree(f.repo.dir);
    await applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir });
    assert.equal(fs.readlinkSync(path.join(f.repo.dir, 'link')), 'gone.txt');
    assert.equal(fs.readlinkSync(path.join(f.repo.dir, 'src/tool-link')), '../tool.sh');
    await undoProposal({ db: f.db, proposalId: f.p.id, repo: f.repo.dir });
    assert.deepEqual(snapshotTree(f.repo.dir), before);
  });
});

describe('recoverInterruptedApplies', () => {
  test('an apply interrupted after writing is rolled back to proposed; files the user changed since are kept', async () => {
    const f = await fixture();
    const before = snapshotTree(f.repo.dir);
    await applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir });
    // As a crash between the writes and the final state move leaves it.
    f.db.prepare("UPDATE proposals SET state = 'applying', applied_at = NULL WHERE id = ?").run(f.p.id);
    f.repo.write('src/a.txt', 'user edit after the crash\n');
    const out = await recoverInterruptedApplies({ db: f.db });
    assert.equal(out.length, 1);
    assert.equal(out[0]!.state, 'proposed');
    assert.deepEqual(out[0]!.kept, ['src/a.txt']);
    assert.deepEqual([...out[0]!.restored].sort(), ['gone.txt', 'img.bin', 'new/deep/n.txt', 'run.sh', 'tool.sh']);
    const now = snapshotTree(f.repo.dir);
    assert.deepEqual(changedKeys(before, now), ['src/a.txt']);
    assert.equal(state(f), 'proposed');
    assert.deepEqual(await recoverInterruptedApplies({ db: f.db }), []);
  });

  test('an undo interrupted half-way is completed', async () => {
    const f = await fixture();
    const before = snapshotTree(f.repo.dir);
    await applyProposal({ db: f.db, proposalId: f.p.id, hash: f.p.hash, repo: f.repo.dir });
    f.db.prepare("UPDATE proposals SET state = 'undoing' WHERE id = ?").run(f.p.id);
    fs.writeFileSync(path.join(f.repo.dir, 'src/a.txt'), TEN); // the one file the undo got to
    const out = await recoverInterruptedApplies({ db: f.db });
    assert.equal(out[0]!.state, 'undone');
    assert.deepEqual(out[0]!.kept, []);
    assert.deepEqual(snapshotTree(f.repo.dir), before);
    assert.equal(state(f), 'undone');
  });
});
