import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeRepo, type TestRepo } from '../support/git-repo.js';
import { tempDir } from '../support/temp.js';
import { openDb, storePath, type Db } from '../../src/store/db.js';
import { ProposalStore, proposalListing } from '../../src/store/proposal-store.js';
import { makeProposal, ProposalError } from '../../src/agent/proposal.js';
import { createTaskWorktree, type TaskWorktree } from '../../src/agent/worktree.js';

process.env.GIT_CONFIG_GLOBAL = '/dev/null';
process.env.GIT_CONFIG_NOSYSTEM = '1';

const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups.reverse()) c();
});

interface Setup {
  repo: TestRepo;
  home: string;
  db: Db;
}

function setup(): Setup {
  const repo = makeRepo();
  const home = tempDir('kairos-home-');
  const db = openDb(storePath(home.dir));
  cleanups.push(repo.cleanup, home.cleanup, () => db.close());
  repo.commit('files', {
    '.gitignore': 'build/\n',
    'src/a.ts': 'export const a = 1;\n',
    'src/b.ts': 'export const b = 2;\n',
    'img.bin': '',
  });
  fs.writeFileSync(path.join(repo.dir, 'img.bin'), Buffer.from([0, 1, 2, 255, 254, 0, 10, 13]));
  repo.commit('binary');
  return { repo, home: home.dir, db };
}

async function worktree(s: Setup, taskId: number, includeUncommitted = false): Promise<TaskWorktree> {
  return createTaskWorktree({ repo: s.repo.dir, taskId, home: s.home, includeUncommitted });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('makeProposal', () => {
  test("the diff holds the agent's edits, new and deleted files and binaries, and the hash is the sha256 of its bytes", async () => {
    const s = setup();
    const wt = await worktree(s, 1);
    fs.writeFileSync(path.join(wt.dir, 'src/a.ts'), 'export const a = 42;\n');
    fs.rmSync(path.join(wt.dir, 'src/b.ts'));
    fs.mkdirSync(path.join(wt.dir, 'src/deep'), { recursive: true });
    fs.writeFileSync(path.join(wt.dir, 'src/deep/c.ts'), 'export const c = 3;\n');
    fs.writeFileSync(path.join(wt.dir, 'img.bin'), Buffer.from([9, 8, 7, 0, 255]));
    fs.mkdirSync(path.join(wt.dir, 'build'));
    fs.writeFileSync(path.join(wt.dir, 'build/out.js'), 'ignored build output\n');

    const p = await makeProposal({
      db: s.db,
      repo: s.repo.dir,
      worktreeDir: wt.dir,
      base: wt.base,
      taskId: 1,
      summary: 'make a 42',
      costMicros: 1234,
      now: () => new Date('2026-01-02T03:04:05Z'),
    });
    assert.match(p.id, /^[a-z2-9]{8}$/);
    assert.equal(p.hash, sha256(p.diff));
    assert.deepEqual([...p.files].sort(), ['img.bin', 'src/a.ts', 'src/b.ts', 'src/deep/c.ts']);
    const text = p.diff.toString('latin1');
    assert.match(text, /^diff --git a\/img\.bin b\/img\.bin\n/m);
    assert.match(text, /GIT binary patch/);
    assert.match(text, /\+export const a = 42;/);
    assert.match(text, /deleted file mode 100644/);
    assert.doesNotMatch(text, /build\/out\.js/);
    assert.equal(p.state, 'proposed');
    assert.equal(p.taskId, '1');
    assert.equal(p.costMicros, 1234);
    assert.equal(p.createdAt, '2026-01-02T03:04:05.000Z');
    assert.equal(p.repo, s.repo.dir);
    assert.equal(p.base, wt.base);

    // Stored byte for byte.
    const stored = new ProposalStore(s.db).get(p.id)!;
    assert.ok(stored.diff.equals(p.diff));
    assert.deepEqual(new ProposalStore(s.db).forTask(1).map((x) => x.id), [p.id]);
    assert.deepEqual(proposalListing(stored), { id: p.id, hash: p.hash, summary: 'make a 42', files: p.files, state: 'proposed' });

    // The diff is what `git apply` needs to rebuild the worktree state from the base.
    const check = makeRepo();
    cleanups.push(check.cleanup);
    check.git('fetch', '-q', s.repo.dir, wt.base);
    check.git('checkout', '-q', 'FETCH_HEAD');
    const patch = path.join(check.dir, '..', 'p.diff');
    fs.writeFileSync(patch, p.diff);
    check.git('apply', patch);
    for (const rel of ['src/a.ts', 'src/deep/c.ts', 'img.bin']) {
      assert.ok(fs.readFileSync(path.join(check.dir, rel)).equals(fs.readFileSync(path.join(wt.dir, rel))), rel);
    }
    assert.equal(fs.existsSync(path.join(check.dir, 'src/b.ts')), false);
  });

  test('the commits the agent makes in the worktree are still diffed from the base', async () => {
    const s = setup();
    const wt = await worktree(s, 2);
    fs.writeFileSync(path.join(wt.dir, 'src/a.ts'), 'export const a = 5;\n');
    const { execFileSync } = await import('node:child_process');
    execFileSync('git', ['-c', 'user.name=a', '-c', 'user.email=a@b', 'commit', '-qam', 'agent commit'], { cwd: wt.dir });
    fs.writeFileSync(path.join(wt.dir, 'later.txt'), 'later\n');
    const p = await makeProposal({ db: s.db, repo: s.repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: 2, summary: 's', costMicros: 0 });
    assert.deepEqual([...p.files].sort(), ['later.txt', 'src/a.ts']);
  });

  test('the stat cache never hides a change: a same-size rewrite with its mtime put back, an exec bit, a file turned link', async () => {
    const s = setup();
    const wt = await worktree(s, 20);
    const a = path.join(wt.dir, 'src/a.ts');
    const st = fs.statSync(a);
    fs.writeFileSync(a, 'export const a = 9;\n'); // same length as before
    fs.utimesSync(a, st.atime, st.mtime);
    fs.chmodSync(path.join(wt.dir, 'src/b.ts'), 0o755);
    fs.rmSync(path.join(wt.dir, 'img.bin'));
    fs.symlinkSync('src/b.ts', path.join(wt.dir, 'img.bin'));
    const p = await makeProposal({ db: s.db, repo: s.repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: 20, summary: 's', costMicros: 0 });
    assert.deepEqual([...p.files].sort(), ['img.bin', 'src/a.ts', 'src/b.ts']);
    const text = p.diff.toString('latin1');
    assert.match(text, /^\+export const a = 9;$/m);
    assert.match(text, /^old mode 100644\nnew mode 100755$/m);
    assert.match(text, /^new file mode 120000$/m);
  });

  test("with carried uncommitted changes, only the agent's changes are in the diff", async () => {
    const s = setup();
    s.repo.write('src/a.ts', 'export const a = "user";\n');
    s.repo.write('mine.txt', 'user untracked\n');
    const wt = await worktree(s, 3, true);
    fs.writeFileSync(path.join(wt.dir, 'src/b.ts'), 'export const b = "agent";\n');
    const p = await makeProposal({ db: s.db, repo: s.repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: 3, summary: 's', costMicros: 0 });
    assert.deepEqual(p.files, ['src/b.ts']);
    assert.doesNotMatch(p.diff.toString('utf8'), /user/);
  });

  test("the user's diff config cannot change the bytes (no prefix, colour, external diff)", async () => {
    const s = setup();
    s.repo.git('config', 'diff.noprefix', 'true');
    s.repo.git('config', 'color.diff', 'always');
    s.repo.git('config', 'color.ui', 'always');
    s.repo.git('config', 'diff.external', '/bin/false');
    const wt = await worktree(s, 4);
    fs.writeFileSync(path.join(wt.dir, 'src/a.ts'), 'export const a = 0;\n');
    const p = await makeProposal({ db: s.db, repo: s.repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: 4, summary: 's', costMicros: 0 });
    const text = p.diff.toString('utf8');
    assert.match(text, /^diff --git a\/src\/a\.ts b\/src\/a\.ts$/m);
    assert.match(text, /^--- a\/src\/a\.ts$/m);
    // oxlint-disable-next-line no-control-regex -- the escape character is what must be absent
    assert.doesNotMatch(text, /\x1b\[/);
  });

  test('an unchanged worktree is refused as empty, an oversized diff as too large', async () => {
    const s = setup();
    const wt = await worktree(s, 5);
    await assert.rejects(
      makeProposal({ db: s.db, repo: s.repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: 5, summary: 's', costMicros: 0 }),
      (e: unknown) => e instanceof ProposalError && e.code === 'empty',
    );
    fs.writeFileSync(path.join(wt.dir, 'big.txt'), 'x'.repeat(5000) + '\n');
    await assert.rejects(
      makeProposal({ db: s.db, repo: s.repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: 5, summary: 's', costMicros: 0, maxDiffBytes: 1000 }),
      (e: unknown) => e instanceof ProposalError && e.code === 'too_large',
    );
    assert.equal(new ProposalStore(s.db).forTask(5).length, 0);
  });

  test('ids are collision-checked: a taken id is drawn again', async () => {
    const s = setup();
    const wt = await worktree(s, 6);
    fs.writeFileSync(path.join(wt.dir, 'src/a.ts'), 'export const a = 6;\n');
    const ids = ['samesame', 'samesame', 'samesame', 'other123'];
    const makeId = (): string => ids.shift()!;
    const opts = { db: s.db, repo: s.repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: 6, summary: 's', costMicros: 0, makeId };
    const first = await makeProposal(opts);
    const second = await makeProposal(opts);
    assert.equal(first.id, 'samesame');
    assert.equal(second.id, 'other123');
    assert.equal(ids.length, 0);
  });
});
