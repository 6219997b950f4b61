import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { makeRepo, runGit } from '../support/git-repo.js';
import { tempDir } from '../support/temp.js';
import { openDb, storePath } from '../../src/store/db.js';
import { makeProposal, ProposalError } from '../../src/agent/proposal.js';
import { createTaskWorktree, removeTaskWorktree, type TaskWorktree } from '../../src/agent/worktree.js';

/**
 * Issue 10, item 1: whatever wrote it in the worktree (the agent's tools refuse most of it, a
 * sandboxed command can write anything), a proposal that would carry a `.git` entry, a nested
 * repository, `.gitmodules`, a driver-selecting `.gitattributes` line, a symlink out of the tree, a
 * FIFO, socket or device, or a protected path is refused as a whole, with a reason naming it, and
 * nothing is stored. Each case also makes an ordinary edit, so "refused" is never "empty".
 */

const repo = makeRepo();
const home = tempDir('kairos-home-');
const outside = tempDir('kairos-outside-');
const db = openDb(storePath(home.dir));
after(() => {
  db.close();
  repo.cleanup();
  home.cleanup();
  outside.cleanup();
});
repo.commit('base', {
  'src/a.txt': 'a\n',
  'src/inner/b.txt': 'b\n',
  '.gitignore': 'build/\n*.sock\n',
  '.gitattributes': '*.bin filter=lfs diff=lfs merge=lfs -text\n',
  '.vscode/settings.json': '{}\n',
});

let nextId = 100;

async function refusal(prepare: (dir: string, wt: TaskWorktree) => void | Promise<void>): Promise<string> {
  const id = nextId++;
  const wt = await createTaskWorktree({ repo: repo.dir, taskId: id, home: home.dir, includeUncommitted: false });
  try {
    fs.writeFileSync(path.join(wt.dir, 'src/a.txt'), 'a fixed\n');
    await prepare(wt.dir, wt);
    let message = '';
    await assert.rejects(
      makeProposal({ db, repo: repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: id, summary: 'fix', costMicros: 0 }),
      (e: unknown) => {
        if (!(e instanceof ProposalError)) throw e;
        assert.equal(e.code, 'refused', e.message);
        message = e.message;
        return true;
      },
    );
    assert.match(message, new RegExp(`^task ${id}: proposal refused, nothing was proposed: `));
    assert.deepEqual(db.prepare('SELECT id FROM proposals WHERE task_id = ?').all(String(id)), [], 'a refused proposal is not stored');
    return message;
  } finally {
    await removeTaskWorktree({ repo: repo.dir, taskId: id, home: home.dir });
  }
}

async function accepted(prepare: (dir: string) => void): Promise<{ files: string[]; diff: string }> {
  const id = nextId++;
  const wt = await createTaskWorktree({ repo: repo.dir, taskId: id, home: home.dir, includeUncommitted: false });
  try {
    fs.writeFileSync(path.join(wt.dir, 'src/a.txt'), 'a fixed\n');
    prepare(wt.dir);
    const p = await makeProposal({ db, repo: repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: id, summary: 'fix', costMicros: 0 });
    return { files: p.files, diff: p.diff.toString('utf8') };
  } finally {
    await removeTaskWorktree({ repo: repo.dir, taskId: id, home: home.dir });
  }
}

const write = (dir: string, rel: string, body: string): void => {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), body);
};

describe('.git entries and nested repositories', () => {
  test("the worktree's own .git file rewritten to point at a planted git dir", async () => {
    const m = await refusal((dir) => {
      fs.mkdirSync(path.join(dir, '.evil/gitdir/objects'), { recursive: true });
      fs.writeFileSync(path.join(dir, '.git'), 'gitdir: .evil/gitdir\n');
    });
    assert.match(m, /the worktree's own \.git file was rewritten to point at another repository/);
  });

  test("the worktree's own .git file replaced by a folder", async () => {
    const m = await refusal((dir) => {
      fs.rmSync(path.join(dir, '.git'));
      fs.mkdirSync(path.join(dir, '.git/objects'), { recursive: true });
    });
    assert.match(m, /replaced by a folder or a link/);
  });

  test('a nested repository (git init in a subfolder)', async () => {
    const m = await refusal((dir) => {
      fs.mkdirSync(path.join(dir, 'vendor/lib'), { recursive: true });
      runGit(path.join(dir, 'vendor/lib'), ['init', '-q']);
      write(dir, 'vendor/lib/x.txt', 'x\n');
    });
    assert.match(m, /'vendor\/lib\/\.git' is a \.git folder: a nested or planted repository/);
  });

  test('a .git file in a subfolder, and the spellings other file systems read as .git', async () => {
    const m = await refusal((dir) => {
      write(dir, 'src/inner/.git', 'gitdir: ../../.evil\n');
      write(dir, 'docs/.GIT/config', '[core]\n');
      write(dir, 'docs/.git. /x', 'x');
      write(dir, 'docs/git~1/x', 'x');
    });
    for (const p of ['src/inner/.git', 'docs/.GIT', 'docs/.git. ', 'docs/git~1']) assert.ok(m.includes(`'${p}'`), `${p} not named in: ${m}`);
  });

  test('a planted repository whose HEAD is a FIFO (git walking the tree would wait forever) is refused at once', async () => {
    const started = Date.now();
    const m = await refusal((dir) => {
      fs.mkdirSync(path.join(dir, 'vendor/x/evil/objects'), { recursive: true });
      fs.mkdirSync(path.join(dir, 'vendor/x/evil/refs'), { recursive: true });
      execFileSync('mkfifo', [path.join(dir, 'vendor/x/evil/HEAD')]);
      write(dir, 'vendor/x/.git', 'gitdir: evil\n');
      write(dir, 'vendor/x/lib.js', 'x\n');
    });
    assert.match(m, /'vendor\/x\/\.git' is a \.git entry/);
    assert.match(m, /'vendor\/x\/evil\/HEAD' is a FIFO/);
    assert.ok(Date.now() - started < 60_000, 'the proposal waited on the FIFO');
  });

  test('a .gitattributes that is a FIFO is refused without git reading the tree', async () => {
    const m = await refusal((dir) => {
      fs.rmSync(path.join(dir, '.gitattributes'));
      execFileSync('mkfifo', [path.join(dir, '.gitattributes')]);
    });
    assert.match(m, /'\.gitattributes' is a FIFO, not a regular file \(git would block reading it\)/);
  });

  test('.gitmodules', async () => {
    const m = await refusal((dir) => write(dir, '.gitmodules', '[submodule "x"]\n\tpath = x\n\turl = ext::sh -c touch% /tmp/pwned\n'));
    assert.match(m, /'\.gitmodules' is submodule configuration/);
  });
});

describe('.gitattributes', () => {
  for (const line of ['*.js filter=x', '*.js diff=x', '*.js merge=x', '[attr]evil filter=x', '"with space.js" merge=y', '*.c -text !eol diff=cpp-driver']) {
    test(`a new line '${line}' selects a driver`, async () => {
      const m = await refusal((dir) => fs.appendFileSync(path.join(dir, '.gitattributes'), `${line}\n`));
      assert.match(m, /'\.gitattributes' selects a filter, diff or merge driver/);
      assert.ok(m.includes(JSON.stringify(line)), m);
    });
  }

  test('in a subfolder too', async () => {
    const m = await refusal((dir) => write(dir, 'src/.gitattributes', '* filter=x\n'));
    assert.match(m, /'src\/\.gitattributes' selects a filter, diff or merge driver/);
  });

  test('a .gitattributes that is a symlink', async () => {
    const m = await refusal((dir) => {
      write(dir, 'src/attrs.txt', '* text\n');
      fs.symlinkSync('attrs.txt', path.join(dir, 'src/.gitattributes'));
    });
    assert.match(m, /'src\/\.gitattributes' is a symlink; git metadata files must be regular files/);
  });

  test('lines that select no driver are fine, and the driver lines the base already had stay', async () => {
    const p = await accepted((dir) => fs.appendFileSync(path.join(dir, '.gitattributes'), '*.sh text eol=lf\n*.png binary\n*.md -diff\n'));
    assert.deepEqual(p.files, ['.gitattributes', 'src/a.txt']);
  });
});

describe('symlinks and special files', () => {
  test('a symlink to an absolute path', async () => {
    const m = await refusal((dir) => fs.symlinkSync('/etc/passwd', path.join(dir, 'src/passwd')));
    assert.match(m, /'src\/passwd' is a symlink to an absolute path \("\/etc\/passwd"\), outside the tree/);
  });

  test('a symlink that climbs out with ..', async () => {
    const m = await refusal((dir) => fs.symlinkSync(`../../${path.basename(outside.dir)}`, path.join(dir, 'src/up')));
    assert.match(m, /'src\/up' is a symlink that points outside the tree/);
  });

  test('a symlink that leaves through another link in the tree', async () => {
    const m = await refusal((dir) => {
      fs.symlinkSync(outside.dir, path.join(dir, 'src/inner/out'));
      fs.symlinkSync('inner/out/secret', path.join(dir, 'src/via'));
    });
    assert.match(m, /'src\/via' is a symlink that points outside the tree \("inner\/out\/secret", through src\/inner\/out\)/);
  });

  test('a symlink inside the tree is proposed as a link', async () => {
    const p = await accepted((dir) => fs.symlinkSync('../src/inner/b.txt', path.join(dir, 'src/b-link')));
    assert.deepEqual(p.files, ['src/a.txt', 'src/b-link']);
    assert.match(p.diff, /^new file mode 120000$/m);
  });

  test('a FIFO', async () => {
    const m = await refusal((dir) => void execFileSync('mkfifo', [path.join(dir, 'src/pipe')]));
    assert.match(m, /'src\/pipe' is a FIFO, not a regular file/);
  });

  test('a socket', async () => {
    let server: net.Server | undefined;
    try {
      const m = await refusal(async (dir) => {
        server = net.createServer();
        await new Promise<void>((resolve) => server!.listen(path.join(dir, 'src/agent.socket'), resolve));
      });
      assert.match(m, /'src\/agent\.socket' is a socket, not a regular file/);
    } finally {
      server?.close();
    }
  });

  test('a device file', async (t) => {
    let made = true;
    const m = await refusal((dir) => {
      try {
        execFileSync('mknod', [path.join(dir, 'src/null'), 'c', '1', '3'], { stdio: 'ignore' });
      } catch {
        made = false;
        fs.symlinkSync('/dev/null', path.join(dir, 'src/null'));
      }
    });
    if (!made) t.diagnostic('mknod is not permitted here; checked a link to /dev/null instead');
    assert.match(m, made ? /'src\/null' is a character device, not a regular file/ : /'src\/null' is a symlink to an absolute path/);
  });

  test('special files git ignores are not the proposal\'s business', async () => {
    const p = await accepted((dir) => {
      fs.mkdirSync(path.join(dir, 'build'));
      execFileSync('mkfifo', [path.join(dir, 'build/pipe')]);
      execFileSync('mkfifo', [path.join(dir, 'src/server.sock')]);
    });
    assert.deepEqual(p.files, ['src/a.txt']);
  });
});

describe('protected paths', () => {
  test('a git hook configuration written by a command', async () => {
    const m = await refusal((dir) => write(dir, '.husky/pre-commit', 'curl x | sh\n'));
    assert.match(m, /'\.husky\/pre-commit' is a git hook configuration/);
  });

  test('a shell start-up file at any depth', async () => {
    const m = await refusal((dir) => write(dir, 'src/.bashrc', 'x\n'));
    assert.match(m, /'src\/\.bashrc' is a shell start-up file/);
  });

  test('deleting one counts too', async () => {
    const m = await refusal((dir) => fs.rmSync(path.join(dir, '.vscode/settings.json')));
    assert.match(m, /'\.vscode\/settings\.json' is editor configuration/);
  });
});
