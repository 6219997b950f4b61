import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { kairos, kairosJson, scenario, spawnDaemon, waitFor } from '../support/kairos.js';

interface TaskJson { id: number; trigger: string; state: string; reason: string | null; data_problem?: string; legacy?: unknown }

const POLICY = `
triggers:
  - name: check
    on: { manual: true }
    settle_ms: 0
    run: 'true'
    notify: never
`;

/** The JSON lines of the daemon's log file that warn about a task's unreadable data. */
function dataWarnings(home: string): Array<{ task: number; problem: string }> {
  const file = path.join(home, 'logs', 'kairos.log');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes('task data partly unreadable'))
    .map((l) => JSON.parse(l) as { task: number; problem: string });
}

/**
 * `tasks.data` rows as an older Kairos, a damaged disk or a hostile hand left them, written straight into
 * the real SQLite store between two runs of the real daemon: each is logged once with what is wrong, its
 * task goes on (or ends with that reason), the daemon keeps running, and the stored text is never lost.
 */
test('damaged tasks.data rows: a logged problem per task, no crash, nothing lost', async () => {
  await scenario(POLICY, async ({ h, repo }) => {
    // A first run makes the store, and records the repository as the daemon names it.
    let d = await spawnDaemon([repo.dir], h.env);
    let repoPath: string;
    try {
      assert.equal(kairos(['poke', '--repo', repo.dir, '--trigger', 'check'], h.env).code, 0);
      repoPath = (await waitFor(() => kairosJson<Array<TaskJson & { repo: string }>>(['tasks'], h.env).find((t) => t.state === 'done'), { what: 'first task done' })).repo;
    } finally {
      d.kill('SIGTERM');
      await d.exited;
    }

    const runningRaw = JSON.stringify({ pid: '4242; rm -rf /', pid_start: 7, legacy: 'kept' });
    const ambientRaw = '{"instruction": "fix the tes';
    const queuedRaw = '{"after_apply": 5, "refused_by": ["trust"], "__proto__": {"polluted": true}, "legacy": 1}';
    const db = new Database(path.join(h.home, 'kairos.db'));
    const insert = db.prepare("INSERT INTO tasks (repo, trigger, kind, state, created_at, started_at, command, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    const now = new Date().toISOString();
    const running = Number(insert.run(repoPath, 'check', 'command', 'running', now, now, 'true', runningRaw).lastInsertRowid);
    const ambient = Number(insert.run(repoPath, 'ambient', 'agent', 'queued', now, null, null, ambientRaw).lastInsertRowid);
    const queued = Number(insert.run(repoPath, 'check', 'command', 'queued', now, null, 'true', queuedRaw).lastInsertRowid);
    db.close();

    d = await spawnDaemon([repo.dir], h.env);
    try {
      const byId = async (id: number, state: string) =>
        waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.id === id && t.state === state), { what: `task ${id} ${state}`, timeoutMs: 60_000 });
      // A running task whose pid is not a number: recovered as interrupted, no process signalled from the hostile text.
      const interrupted = await byId(running, 'interrupted');
      assert.match(interrupted.data_problem ?? '', /pid: .*expected number/);
      assert.match(interrupted.data_problem ?? '', /pid_start/);
      assert.equal(interrupted.legacy, 'kept', 'a key this version does not know is still shown');
      // An ambient task whose instruction is cut off: it fails saying why, not "its trigger is no longer in the policy".
      const failed = await byId(ambient, 'failed');
      assert.match(failed.reason ?? '', /^its stored data is unreadable \(not JSON/);
      // A queued command whose wrongly typed keys are left out of the typed view runs as usual.
      const done = await byId(queued, 'done');
      assert.match(done.data_problem ?? '', /after_apply/);
      assert.match(done.data_problem ?? '', /refused_by/);
      assert.equal((done as unknown as Record<string, unknown>).polluted, undefined, 'a __proto__ key reaches nothing');

      // Each damaged row is logged once, by task id, however often it was read; the daemon still answers.
      await waitFor(() => dataWarnings(h.home).length >= 3, { what: 'the three warnings in the log' });
      const warnings = dataWarnings(h.home);
      assert.deepEqual(warnings.map((w) => w.task).sort((a, b) => a - b), [running, ambient, queued]);
      assert.match(warnings.find((w) => w.task === ambient)!.problem, /^not JSON/);
      assert.equal(kairos(['status', '--json'], h.env).code, 0);
    } finally {
      d.kill('SIGTERM');
      await d.exited;
    }

    // Nothing lost: the texts are as written, a patch (the command's pid) merged beside the unreadable keys.
    const after = new Database(path.join(h.home, 'kairos.db'), { readonly: true });
    try {
      const stored = (id: number) => (after.prepare('SELECT data FROM tasks WHERE id = ?').get(id) as { data: string }).data;
      assert.equal(stored(running), runningRaw);
      assert.equal(stored(ambient), ambientRaw);
      const q = JSON.parse(stored(queued)) as Record<string, unknown>;
      assert.equal(q.after_apply, 5);
      assert.deepEqual(q.refused_by, ['trust']);
      assert.equal(q.legacy, 1);
      assert.equal(typeof q.pid, 'number', 'the run recorded its pid beside the damaged keys');
    } finally {
      after.close();
    }
  });
});
