import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { registerApprovalCommands } from '../../src/cli/approval-commands.js';
import { renderDiff, visibleControls } from '../../src/cli/diff-view.js';
import { resolveHome } from '../../src/cli/context.js';
import { openDb, storePath, type Db } from '../../src/store/db.js';
import { makeProposal } from '../../src/agent/proposal.js';
import { createTaskWorktree, removeTaskWorktree } from '../../src/agent/worktree.js';
import { ApprovalQueue, isPaused, proposalActions } from '../../src/pipeline/approvals.js';
import { approvalHandlers, type ApprovalChange } from '../../daemon/approval-handlers.js';
import { startControlServer, type ControlServer } from '../../daemon/control-server.js';
import { makeRepo, type TestRepo } from '../support/git-repo.js';
import { treeHash } from '../support/tree-hash.js';
import { nodeArgsFor } from '../support/paths.js';
import { readDailyLog } from '../../src/report/daily-log.js';

/**
 * Until the lead mounts registerApprovalCommands in src/cli/main.ts, this file is its own CLI: run
 * with KAIROS_APPROVAL_CLI_HOST=1 it registers exactly those commands on a commander program and
 * handles errors as main.ts does. (test/e2e/approval.test.ts drives the real `kairos`.)
 */
if (process.env.KAIROS_APPROVAL_CLI_HOST === '1') {
  const program = new Command();
  program.option('--home <dir>');
  registerApprovalCommands(program, { home: () => resolveHome(program.opts<{ home?: string }>().home) });
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    process.stderr.write(`kairos: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
} else {
  const run = (args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string; raw: Buffer }> =>
    // Not spawnSync: the control server answering the CLI runs in this process's event loop.
    new Promise((resolve) => {
      const child = spawn(process.execPath, [...nodeArgsFor(import.meta.url, './approval-commands.test.ts'), ...args], {
        env: { ...env, KAIROS_APPROVAL_CLI_HOST: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => {
        const raw = Buffer.concat(out);
        resolve({ code: code ?? -1, stdout: raw.toString('utf8'), stderr, raw });
      });
    });

  describe('kairos pending / show / approve / deny / pause / resume', () => {
    let repo: TestRepo;
    let home: string;
    let env: NodeJS.ProcessEnv;
    let db: Db;
    let queue: ApprovalQueue;

    before(() => {
      repo = makeRepo();
      repo.commit('code', { 'src/add.js': 'export const add = (a, b) => a - b;\n' });
      home = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-cli-approvals-'));
      env = { ...process.env, KAIROS_HOME: home, NO_COLOR: '', FORCE_COLOR: '' };
      delete env.NO_COLOR;
      delete env.FORCE_COLOR;
    });
    after(() => {
      db?.close();
      repo.cleanup();
      fs.rmSync(home, { recursive: true, force: true });
    });

    async function enqueue(taskId: string, content: string, o: { ttlMs?: number; now?: Date } = {}): Promise<{ id: string; hash: string; expected: string }> {
      const wt = await createTaskWorktree({ repo: repo.dir, taskId, home, includeUncommitted: false });
      fs.writeFileSync(path.join(wt.dir, 'src/add.js'), content);
      const expected = treeHash(wt.dir);
      const proposal = await makeProposal({ db, repo: repo.dir, worktreeDir: wt.dir, base: wt.base, taskId, summary: `fix ${taskId}`, costMicros: 2_500 });
      await removeTaskWorktree({ repo: repo.dir, taskId, home });
      const { approval } = queue.enqueueProposal({ proposal, trigger: 'tests', ...(o.ttlMs ? { ttlMs: o.ttlMs } : {}) }, o.now);
      return { id: approval.id, hash: proposal.hash, expected };
    }

    test('pending --json is [] before there is a store', async () => {
      const r = await run(['pending', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), []);
      db = openDb(storePath(home));
      queue = new ApprovalQueue(db, proposalActions({ db, home }));
    });

    test('pending --json lists id, kind, hash, summary, expires_at, trigger, repo, files, cost; show prints the exact diff and how to approve', async () => {
      const p = await enqueue('cli1', 'export const add = (a, b) => a + b; // \u001b[2Jfixed\n');
      const r = await run(['pending', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
      assert.equal(rows.length, 1);
      const row = rows[0]!;
      assert.equal(row.id, p.id);
      assert.equal(row.kind, 'proposal');
      assert.equal(row.hash, p.hash);
      assert.equal(row.summary, 'fix cli1');
      assert.match(String(row.expires_at), /^\d{4}-\d\d-\d\dT/);
      assert.equal(row.trigger, 'tests');
      assert.equal(row.repo, repo.dir);
      assert.deepEqual(row.files, ['src/add.js']);
      assert.equal(row.cost_usd, 0.0025);

      const text = await run(['pending'], env);
      assert.match(text.stdout, new RegExp(`${p.id}\\s+proposal\\s+fix cli1`));

      const show = await run(['show', p.id], env);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /summary {2}fix cli1/);
      assert.match(show.stdout, /files {4}src\/add\.js/);
      assert.match(show.stdout, new RegExp(`hash {5}${p.hash}`));
      assert.match(show.stdout, /^-export const add = \(a, b\) => a - b;$/m);
      assert.ok(show.stdout.includes(`approve: kairos approve ${p.id} --hash ${p.hash}`));
      // Not a terminal: no colour; the escape in the diff is shown, not sent to the terminal.
      assert.ok(!show.stdout.includes('\u001b'), 'raw escape bytes reached stdout');
      assert.ok(show.stdout.includes('+export const add = (a, b) => a + b; // ^[[2Jfixed'));

      const coloured = await run(['show', p.id], { ...env, FORCE_COLOR: '1' });
      assert.ok(coloured.stdout.includes('\u001b[32m+export const add = (a, b) => a + b; // ^[[2Jfixed\u001b[0m'));
      assert.ok(coloured.stdout.includes('\u001b[31m-export const add'));

      const raw = await run(['show', p.id, '--raw'], env);
      assert.equal(createHash('sha256').update(raw.raw).digest('hex'), p.hash, 'show --raw is not the hashed diff');
    });

    test('with the daemon down: approve applies and prints the files, a second approve fails, a wrong hash is refused', async () => {
      const p = queue.pending()[0]!;
      const wrong = await run(['approve', p.id, '--hash', 'a'.repeat(64)], env);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /is not the hash of the diff/);
      const ok = await run(['approve', p.id, '--hash', p.hash!], env);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, new RegExp(`approved ${p.id}; applied to ${repo.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\n {2}src/add\\.js`));
      assert.equal(fs.readFileSync(path.join(repo.dir, 'src/add.js'), 'utf8'), 'export const add = (a, b) => a + b; // \u001b[2Jfixed\n');
      assert.deepEqual(queue.get(p.id)!.appliedFiles, ['src/add.js']);
      // The undo command is printed, and the decision (with who made it) is in the daily log, daemon or not.
      assert.match(ok.stdout, new RegExp(`undo: {2}kairos undo ${p.id}\n`));
      assert.match(readDailyLog(home, new Date()) ?? '', new RegExp(`approved ${p.id} via cli: 1 file \\(src/add\\.js\\) applied.*undo: kairos undo ${p.id}`));
      const again = await run(['approve', p.id], env);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, new RegExp(`kairos: approval ${p.id} was already approved at \\S+ via cli`));
      repo.git('checkout', '-q', '--', '.');
    });

    test('an expired approval: approve exits non-zero with "expired at"', async () => {
      const p = await enqueue('cli2', 'late\n', { ttlMs: 1000, now: new Date(Date.now() - 60_000) });
      const before = treeHash(repo.dir);
      const r = await run(['approve', p.id], env);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /expired at \d{4}-/);
      assert.equal(treeHash(repo.dir), before);
      assert.match(readDailyLog(home, new Date()) ?? '', new RegExp(`expired ${p.id}: nobody decided before`));
      const shown = await run(['show', p.id], env);
      assert.match(shown.stdout, /state {4}expired at/);
      assert.ok(!shown.stdout.includes('approve: kairos approve'));
    });

    describe('through the control socket (approvalHandlers mounted on startControlServer)', () => {
      let server: ControlServer;
      const changes: ApprovalChange[] = [];
      before(async () => {
        server = await startControlServer(home, approvalHandlers({ queue, onChange: (c) => changes.push(c) }));
      });
      after(async () => server.close());

      test('approve goes through the daemon (which sees the change) and applies exactly the diff', async () => {
        const p = await enqueue('sock1', 'via the socket\n');
        const r = await run(['approve', p.id], env);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /src\/add\.js/);
        assert.equal(treeHash(repo.dir), p.expected);
        assert.deepEqual(changes.map((c) => [c.type, 'approval' in c ? c.approval.id : null]), [['approved', p.id]]);
        const again = await run(['approve', p.id], env);
        assert.notEqual(again.code, 0);
        assert.match(again.stderr, /already approved at .* via cli/);
        repo.git('checkout', '-q', '--', '.');
      });

      test('deny --reason discards, and the reason is kept', async () => {
        changes.length = 0;
        const p = await enqueue('sock2', 'denied\n');
        const before = treeHash(repo.dir);
        const r = await run(['deny', p.id, '--reason', 'not like this'], env);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /denied .*nothing was applied/);
        assert.equal(treeHash(repo.dir), before);
        assert.equal(queue.get(p.id)!.reason, 'not like this');
        assert.equal(changes[0]?.type, 'denied');
        const approve = await run(['approve', p.id], env);
        assert.notEqual(approve.code, 0);
        assert.match(approve.stderr, /was denied at .* via cli \(not like this\)/);
      });

      test('pause and resume set the stored flag through the daemon', async () => {
        changes.length = 0;
        const p = await run(['pause'], env);
        assert.equal(p.code, 0, p.stderr);
        assert.match(p.stdout, /paused since/);
        assert.equal(isPaused(db), true);
        const r = await run(['resume'], env);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(isPaused(db), false);
        assert.deepEqual(changes.map((c) => c.type), ['paused', 'resumed']);
      });
    });

    test('pause works with the daemon down too (the flag is in the store)', async () => {
      assert.equal((await run(['pause'], env)).code, 0);
      assert.equal(isPaused(db), true);
      assert.equal((await run(['resume'], env)).code, 0);
      assert.equal(isPaused(db), false);
    });
  });

  describe('diff view', () => {
    test('controls and bidi overrides are made visible; headers are told from content by position', () => {
      assert.equal(visibleControls('a\u001b[31mb\rc\u202ed\te\n'), 'a^[[31mb^Mc<U+202E>d\te\n');
      const diff = 'diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n---old\n++++new\n';
      const out = renderDiff(diff, { colour: true });
      assert.ok(out.includes('\u001b[1m--- a/x\u001b[0m'));
      assert.ok(out.includes('\u001b[31m---old\u001b[0m'), 'a removed line starting with --- was taken for a header');
      assert.ok(out.includes('\u001b[32m++++new\u001b[0m'));
      assert.equal(renderDiff(diff, { colour: false }), diff);
    });
  });
}
