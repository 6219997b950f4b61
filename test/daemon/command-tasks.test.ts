import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CommandTasks } from '../../daemon/command-tasks.js';
import { evaluateRunStep } from '../../daemon/task-gate.js';
import { AuditLog } from '../../src/policy/audit.js';
import { Policy } from '../../src/policy/schema.js';
import { openDb } from '../../src/store/db.js';
import { TaskStore } from '../../src/store/task-store.js';
import type { Trigger } from '../../src/policy/schema.js';

/**
 * A trigger's command goes through the layers right before it runs, with trust read again: the
 * CommandTasks of the daemon, a real store and a real shell. A refused command does not run, the
 * task fails saying which layer refused it, it is marked so that no agent follow-up looks at a
 * result that does not exist, and the audit has the rows.
 */
test("a trigger's command the layers refuse right before it runs does not run, and says why", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-cmd-'));
  const db = openDb(path.join(dir, 'kairos.db'));
  try {
    const tasks = new TaskStore(db);
    const audit = new AuditLog(db);
    const marker = path.join(dir, 'ran');
    const policy = Policy.parse({ triggers: [{ name: 'mine', on: { manual: true }, run: `touch ${marker}`, notify: 'never' }] });
    const quiet = { debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child() { return quiet; } } as never;
    const run = async (trust: 'trusted' | 'changed', fromRepo: boolean) => {
      const { taskId } = tasks.createBatchTask({ repo: dir, trigger: 'mine', kind: 'command', command: `touch ${marker}`, eventIds: [], paths: [], at: new Date().toISOString() });
      tasks.move(taskId, 'queued', 'running', new Date().toISOString());
      const commands = new CommandTasks({ tasks, env: process.env, log: quiet, check: (task, command) => evaluateRunStep(task, command, { policy, trust, fromRepo, paused: false, audit, kairosHome: dir }) });
      const r = await commands.run(tasks.get(taskId)!, policy.triggers[0] as Trigger, policy, []);
      return { taskId, r, data: tasks.get(taskId)!.data };
    };

    // The repository's own trigger, its policy changed since trust: refused, nothing ran.
    const refused = await run('changed', true);
    assert.equal(refused.r.state, 'failed');
    assert.match(refused.r.reason ?? '', /^not run: the trust layer: trigger 'mine' comes from the repository's own policy, whose policy or hook files changed/);
    assert.equal(refused.data.refused_by, 'trust');
    assert.equal(fs.existsSync(marker), false, 'the refused command ran');
    const rows = audit.recent({ taskId: refused.taskId }).reverse();
    assert.deepEqual(rows.map((r) => [r.layer, r.verdict]), [['validate', 'allow'], ['trust', 'deny'], ['gate', 'n/a'], ['spend', 'n/a'], ['permission', 'n/a'], ['sandbox', 'n/a'], ['approval', 'n/a'], ['filter', 'n/a']]);
    assert.match(rows[2]!.reason ?? '', /not reached: denied by the trust layer/);

    // The user's own trigger in the same repository runs.
    const ran = await run('changed', false);
    assert.equal(ran.r.state, 'done', ran.r.reason);
    assert.equal(ran.data.refused_by, undefined);
    assert.equal(fs.existsSync(marker), true);
    assert.deepEqual(audit.recent({ taskId: ran.taskId }).reverse().map((r) => r.verdict), ['allow', 'allow', 'allow', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a']);
    assert.equal(audit.verify().ok, true);
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
