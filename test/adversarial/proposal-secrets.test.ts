import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeHome, kairos } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { openDb, storePath } from '../../src/store/db.js';
import { makeProposal, ProposalError } from '../../src/agent/proposal.js';
import { createTaskWorktree, removeTaskWorktree } from '../../src/agent/worktree.js';
import { ApprovalQueue, approvalJson, proposalActions } from '../../src/pipeline/approvals.js';
import { pendingApprovals } from '../../src/cli/mcp-server.js';
import { proposalNotification } from '../../src/report/notify-actions.js';
import { formatDailyLogBullet } from '../../src/report/daily-log.js';
import { secretsAddedByDiff } from '../../src/policy/redact/diff-secrets.js';
import { SECRETS, leaked } from './support/secrets.js';

/**
 * A proposal's diff and secrets. The approval is bound to the sha256 of the exact diff, so:
 * - a diff that would ADD a secret (an added line, a new file's name) is refused before it is
 *   stored: approving a redacted added line would be approving bytes nobody saw;
 * - a secret already in the user's file (a context or removed line) stays in the stored bytes
 *   (they must apply), is shown redacted by `kairos show`, `pending`, MCP, the notification and
 *   the daily log, and `kairos approve --hash` still applies exactly those bytes.
 */

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const EXISTING = SECRETS.envPassword;

describe('secrets in a proposal diff', () => {
  const repo = makeRepo();
  const h = makeHome();
  const db = openDb(storePath(h.home));
  after(() => {
    db.close();
    repo.cleanup();
    h.cleanup();
  });
  repo.commit('config', { 'config/app.env': `API_KEY=${EXISTING}\nDEBUG=false\n`, 'src/a.js': 'a\n' });

  test('a diff that adds `+API_KEY=…` (or a file named like a key) is refused, naming file and rule, not the value', async () => {
    const wt = await createTaskWorktree({ repo: repo.dir, taskId: 'add', home: h.home, includeUncommitted: false });
    try {
      fs.writeFileSync(path.join(wt.dir, 'src/a.js'), `a\nconst API_KEY = "Zq8vT2mWx9rKp4NdB7sLc3Hf";\n`);
      fs.writeFileSync(path.join(wt.dir, `${SECRETS.githubToken}.txt`), 'x\n');
      await assert.rejects(
        makeProposal({ db, repo: repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: 'add', summary: 'fix', costMicros: 0 }),
        (e: unknown) => {
          assert.ok(e instanceof ProposalError && e.code === 'secret', String(e));
          assert.match(e.message, /src\/a\.js: generic-api-key/);
          assert.match(e.message, /\[REDACTED:github-pat\]\.txt: github-pat/);
          assert.deepEqual(leaked(e.message), []);
          assert.ok(!e.message.includes('Zq8vT2mWx9rKp4NdB7sLc3Hf'));
          return true;
        },
      );
      assert.equal((db.prepare('SELECT count(*) AS n FROM proposals').get() as { n: number }).n, 0, 'nothing was stored');
    } finally {
      await removeTaskWorktree({ repo: repo.dir, taskId: 'add', home: h.home });
    }
  });

  test('only added content counts: context and removed lines are the user’s own', () => {
    const diff = [
      'diff --git a/.env b/.env',
      'index 1111111..2222222 100644',
      '--- a/.env',
      '+++ b/.env',
      '@@ -1,2 +1,2 @@',
      ` API_KEY=${EXISTING}`,
      `-OLD_TOKEN=${SECRETS.githubToken}`,
      '+DEBUG=true',
      '',
    ].join('\n');
    assert.deepEqual(secretsAddedByDiff(diff), []);
    assert.deepEqual(secretsAddedByDiff(diff.replace('+DEBUG=true', `+NEW_TOKEN=${SECRETS.githubToken}`)), [{ file: '.env', kind: 'github-pat' }]);
  });

  test('a secret already in the file is shown redacted everywhere, and approving applies the exact bytes', async () => {
    const wt = await createTaskWorktree({ repo: repo.dir, taskId: 'ctx', home: h.home, includeUncommitted: false });
    let approvalId: string;
    let hash: string;
    try {
      fs.writeFileSync(path.join(wt.dir, 'config/app.env'), `API_KEY=${EXISTING}\nDEBUG=true\n`);
      const p = await makeProposal({ db, repo: repo.dir, worktreeDir: wt.dir, base: wt.base, taskId: 'ctx', summary: `debug on (key was ${SECRETS.githubToken})`, costMicros: 0 });
      assert.match(p.diff.toString('utf8'), new RegExp(` API_KEY=${EXISTING}`), 'the stored diff keeps the real context line');
      const queue = new ApprovalQueue(db, proposalActions({ db, home: h.home }));
      const { approval } = queue.enqueueProposal({ proposal: p, taskId: 'ctx', trigger: 'check' });
      approvalId = approval.id;
      hash = p.hash;

      // Notification, daily log, MCP, the control socket's JSON.
      const shown = proposalNotification({ approvalId, summary: approval.summary, repo: repo.dir, files: approval.files, tokens: { approve: 'a', deny: 'd', show: 's' } }, { withCommands: true });
      assert.deepEqual(leaked(JSON.stringify(shown)), []);
      assert.deepEqual(leaked(formatDailyLogBullet({ at: new Date(), repo: repo.dir, text: `proposed: ${approval.summary}` })), []);
      const mcp = JSON.stringify(pendingApprovals(db, { includeDiff: true, now: Date.now() }));
      assert.match(mcp, /API_KEY=\[REDACTED:/);
      assert.ok(!mcp.includes(EXISTING), 'MCP pending shows the existing secret');
      assert.deepEqual(leaked(JSON.stringify(approvalJson(approval))), []);
    } finally {
      await removeTaskWorktree({ repo: repo.dir, taskId: 'ctx', home: h.home });
    }

    // The CLI, daemon down: show, pending and their JSON are redacted; --raw is the exact bytes.
    const show = kairos(['show', approvalId], h.env);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^ API_KEY=\[REDACTED:[a-z-]+\]$/m);
    assert.match(show.stdout, /\+DEBUG=true/);
    assert.match(show.stdout, /shown as \[REDACTED:…\]; the approval still binds the exact diff/);
    const showJson = kairos(['show', approvalId, '--json'], h.env);
    const pending = kairos(['pending'], h.env);
    const pendingJson = kairos(['pending', '--json'], h.env);
    for (const [what, out] of Object.entries({ show: show.stdout, 'show --json': showJson.stdout, pending: pending.stdout, 'pending --json': pendingJson.stdout })) {
      assert.deepEqual(leaked(out), [], what);
      assert.ok(!out.includes(EXISTING), `${what} shows the existing secret`);
    }
    const raw = kairos(['show', approvalId, '--raw'], h.env);
    assert.equal(sha256(raw.stdout), hash, '--raw prints the exact bytes the hash binds');

    const approve = kairos(['approve', approvalId, '--hash', hash], h.env);
    assert.equal(approve.code, 0, approve.stderr);
    assert.equal(fs.readFileSync(path.join(repo.dir, 'config/app.env'), 'utf8'), `API_KEY=${EXISTING}\nDEBUG=true\n`, 'the real bytes were applied');
  });
});
