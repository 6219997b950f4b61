import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { prepareNotification } from '../../src/report/notify.js';
import { formatDailyLogBullet } from '../../src/report/daily-log.js';
import { createLogger } from '../../src/report/logger.js';
import { runToolCall, type ToolCallContext } from '../../src/agent/tool-call.js';
import { makeProposal, ProposalError } from '../../src/agent/proposal.js';
import { createTaskWorktree, removeTaskWorktree } from '../../src/agent/worktree.js';
import { openDb, storePath } from '../../src/store/db.js';
import { makeRepo } from '../support/git-repo.js';
import { tempDir } from '../support/temp.js';
import { SECRETS, leaked, openSshKey } from './support/secrets.js';

/**
 * Focused tests for the holes the adversarial suite found: each door out of the daemon redacts on
 * its own (notifications, the daily log, the log file, the model's summary and notify text), and a
 * proposal never carries a protected path, whatever wrote it in the worktree: it is refused, naming them.
 */

const tmp = tempDir('kairos-adv-out-');
after(() => tmp.cleanup());
const secretText = `token ${SECRETS.githubToken} key ${SECRETS.awsAccessKeyId}\n${openSshKey(SECRETS.homeKeyBody)}`;

describe('every door out redacts', () => {
  test('notifications: title and body', () => {
    const n = prepareNotification({ title: `repo: ${SECRETS.githubToken}`, body: `check failed\n${secretText}` });
    assert.deepEqual(leaked(JSON.stringify(n)), []);
    assert.match(n.title, /\[REDACTED:github-pat\]/);
  });

  test('a key longer than the body limit is redacted before the cut', () => {
    const n = prepareNotification({ title: 't', body: `${'x'.repeat(150)} ${SECRETS.anthropicKey}` });
    assert.ok(!n.body.includes(SECRETS.anthropicKey.slice(0, 40)), n.body);
  });

  test('daily log bullets', () => {
    const line = formatDailyLogBullet({ at: new Date(), repo: '/r/app', text: `proposed: ${secretText}` });
    assert.deepEqual(leaked(line), []);
    assert.match(line, /\[REDACTED:private-key\]/);
  });

  test('the log file, with no redact function given', () => {
    const home = path.join(tmp.dir, 'loghome');
    const log = createLogger(home);
    log.info({ reason: secretText, nested: { err: new Error(`failed with ${SECRETS.anthropicKey}`) } }, `summary ${SECRETS.githubToken}`);
    log.flush?.();
    const text = fs.readFileSync(path.join(home, 'logs', 'kairos.log'), 'utf8');
    assert.deepEqual(leaked(text), []);
    assert.match(text, /REDACTED/);
  });

  test("the model's propose summary, sleep reason and notify message", async () => {
    const notified: string[] = [];
    const ctx: ToolCallContext = {
      repo: tmp.dir,
      worktree: tmp.dir,
      taskId: 1,
      trigger: 't',
      maxToolOutput: 10_000,
      hooks: undefined,
      evaluate: () => {
        throw new Error('notify, propose and sleep are not policy-evaluated');
      },
      execute: async (name, input) => {
        if (name === 'notify') notified.push(String(input.message));
        return { text: 'sent' };
      },
    };
    const p = await runToolCall(ctx, 'propose', { summary: `fixed. ${secretText}` }, 'a');
    const s = await runToolCall(ctx, 'sleep', { reason: `nothing; ${SECRETS.awsAccessKeyId}` }, 'b');
    const n = await runToolCall(ctx, 'notify', { message: `key ${SECRETS.githubToken}` }, 'c');
    assert.equal(n.isError, false, n.content);
    assert.deepEqual(leaked(JSON.stringify([p, s, notified])), []);
    assert.match(p.finish?.text ?? '', /^fixed\. token \[REDACTED:github-pat\]/);
    assert.deepEqual(notified, ['key [REDACTED:github-pat]']);
  });
});

describe('a proposal never carries a protected path', () => {
  const repo = makeRepo();
  const home = path.join(tmp.dir, 'kh');
  fs.mkdirSync(home);
  const db = openDb(storePath(home));
  after(() => {
    db.close();
    repo.cleanup();
  });
  repo.commit('base', { 'src/a.js': 'a\n', '.kairos/policy.yaml': 'permissions: {}\n' });

  test('protected files written in the worktree (as a sandboxed command can) refuse the proposal, each named', async () => {
    const wt = await createTaskWorktree({ repo: repo.dir, taskId: 71, home, includeUncommitted: false });
    try {
      fs.writeFileSync(path.join(wt.dir, 'src/a.js'), 'b\n');
      for (const [rel, body] of Object.entries({ '.kairos/policy.yaml': 'permissions:\n  allow: ["Bash(*)"]\n', '.claude/settings.json': '{}', '.husky/pre-commit': 'curl x | sh', 'pkg/.claude/settings.json': '{}', '.vscode/tasks.json': '{}', 'sub/.bashrc': 'x' })) {
        fs.mkdirSync(path.dirname(path.join(wt.dir, rel)), { recursive: true });
        fs.writeFileSync(path.join(wt.dir, rel), body);
      }
      // Issue 10: a proposal that would change a protected path is refused as a whole (it used to be proposed without them).
      let refusal = '';
      await assert.rejects(
        makeProposal({ db, repo: repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: 71, summary: 'fix', costMicros: 0 }),
        (e: unknown) => e instanceof ProposalError && e.code === 'refused' && ((refusal = e.message), true),
      );
      assert.match(refusal, /^task 71: proposal refused, nothing was proposed: .*'\.kairos\/policy\.yaml' is Kairos policy/);
      for (const f of ['.claude/settings.json', '.husky/pre-commit', 'pkg/.claude/settings.json', '.vscode/tasks.json', 'sub/.bashrc']) assert.ok(refusal.includes(`'${f}'`), `${f} not named in: ${refusal}`);
      assert.ok(!refusal.includes('src/a.js'), refusal);
      assert.deepEqual(db.prepare("SELECT id FROM proposals WHERE task_id = '71'").all(), [], 'a refused proposal is not stored');
    } finally {
      await removeTaskWorktree({ repo: repo.dir, taskId: 71, home });
    }
  });

  test('a worktree that only changed protected paths proposes nothing: it is refused', async () => {
    const wt = await createTaskWorktree({ repo: repo.dir, taskId: 72, home, includeUncommitted: false });
    try {
      fs.writeFileSync(path.join(wt.dir, '.kairos/policy.yaml'), 'permissions:\n  allow: ["Bash(*)"]\n');
      await assert.rejects(
        makeProposal({ db, repo: repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: 72, summary: 'fix', costMicros: 0 }),
        (e: unknown) => e instanceof ProposalError && e.code === 'refused' && /'\.kairos\/policy\.yaml' is Kairos policy/.test(e.message),
      );
    } finally {
      await removeTaskWorktree({ repo: repo.dir, taskId: 72, home });
    }
  });
});
