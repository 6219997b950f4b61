import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kairos, kairosJson, makeHome, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { makeRepoWithUpstream } from '../support/git-repo.js';

/**
 * Issue 10: after `kairos trust`, a `git pull` that changed `.kairos/policy.yaml` paused agent work,
 * but the repository's own `run:` trigger kept running and `status` still said trusted. Now the pull
 * itself makes the daemon re-read the policy and trust: the repository's own trigger stops, the
 * user's own trigger on the same events keeps running (that is what proves the other did NOT run),
 * and status says `changed` at once, without a reload.
 */

interface TaskJson {
  id: number;
  trigger: string;
  state: string;
  reason: string | null;
}
interface StatusJson {
  repos: Array<{ path: string; trust: string; triggers: string[] }>;
}

const repoPolicy = (log: string, note: string) => `# ${note}
triggers:
  - name: repo-run
    on: { git: [pull, commit] }
    settle_ms: 200
    run: echo repo >> ${log}
    notify: never
`;

test("a pull that changes the repository's policy after trust: its own run: trigger stops at once, the user's still runs, status says changed", { timeout: 180_000 }, async () => {
  const fx = makeRepoWithUpstream('plain');
  const outside = fs.mkdtempSync(path.join(path.dirname(fx.upstream.dir), 'outside-'));
  const repoLog = path.join(outside, 'repo-run.log');
  const userLog = path.join(outside, 'user-run.log');
  const h = makeHome(`
triggers:
  - name: user-echo
    on: { git: [pull, commit] }
    settle_ms: 200
    run: echo user >> ${userLog}
    notify: never
`);
  const lines = (f: string): number => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).length : 0);
  let d: DaemonProcess | undefined;
  try {
    fx.upstream.commit('a policy', { '.kairos/policy.yaml': repoPolicy(repoLog, 'v1') });
    fx.work.git('pull', '-q', '--ff-only');
    assert.equal(kairos(['trust', fx.work.dir], h.env).code, 0);
    d = await spawnDaemon([fx.work.dir], h.env);
    const st = kairosJson<StatusJson>(['status'], h.env).repos[0]!;
    assert.equal(st.trust, 'trusted');
    assert.deepEqual([...st.triggers].sort(), ['repo-run', 'user-echo']);

    // Trusted: a commit runs both triggers.
    fx.work.commit('work', { 'src/a.txt': 'one\n' });
    await waitFor(() => lines(repoLog) === 1 && lines(userLog) === 1, { what: 'both triggers ran once' });
    const doneTasks = (trigger: string) => kairosJson<TaskJson[]>(['tasks'], h.env).filter((t) => t.trigger === trigger && t.state === 'done').length;
    await waitFor(() => doneTasks('user-echo') === 1 && doneTasks('repo-run') === 1, { what: 'both tasks done' });

    const repoTasksBefore = new Set(kairosJson<TaskJson[]>(['tasks'], h.env).filter((t) => t.trigger === 'repo-run').map((t) => t.id));

    // Upstream changes the repository's policy (a new command), and the user pulls it.
    fx.upstream.commit('policy: do more', { '.kairos/policy.yaml': repoPolicy(repoLog, 'v2: now also uploads things') });
    fx.work.git('pull', '-q', '--no-rebase', '--no-edit');
    // Status is live: 'changed' as soon as the daemon saw the pull, with the repository's trigger gone.
    const changed = await waitFor(() => kairosJson<StatusJson>(['status'], h.env).repos.find((r) => r.trust === 'changed'), { what: "status says 'changed'" });
    assert.deepEqual(changed.triggers, ['user-echo']);
    // The user's trigger ran for the pull: the batch the repository's trigger would have been in is done.
    await waitFor(() => doneTasks('user-echo') === 2, { what: "the user's trigger ran for the pull" });
    // Twice more, as in the issue: commits after the pull.
    fx.work.commit('more work', { 'src/a.txt': 'two\n' });
    await waitFor(() => doneTasks('user-echo') === 3, { what: "the user's trigger ran for the next commit" });
    fx.work.commit('even more', { 'src/a.txt': 'three\n' });
    await waitFor(() => doneTasks('user-echo') === 4 && lines(userLog) === 4, { what: "the user's trigger ran again" });

    assert.equal(lines(repoLog), 1, "the repository's own run: trigger ran after its policy changed");
    // Any task of it queued after the pull was skipped, with the reason (none usually is: the trigger left the policy first).
    const repoTasksAfter = kairosJson<TaskJson[]>(['tasks'], h.env).filter((t) => t.trigger === 'repo-run' && !repoTasksBefore.has(t.id));
    for (const t of repoTasksAfter) {
      assert.equal(t.state, 'skipped', JSON.stringify(t));
      assert.match(t.reason ?? '', /policy or hook files changed since you trusted it/);
    }

    // The audit records the change of trust the pull caused.
    const audit = kairosJson<Array<{ what: string; layer: string; verdict: string; reason: string | null }>>(['audit', '--repo', fx.work.dir, '--limit', '2000'], h.env);
    assert.ok(audit.some((r) => /policy reload: repository policy \(a git or policy file event\): changed/.test(r.what) && r.layer === 'trust' && r.verdict === 'deny'), 'no audit row for the trust change');

    // Re-trusting brings the repository's trigger back (the user looked at the change).
    assert.equal(kairos(['trust', fx.work.dir], h.env).code, 0);
    await waitFor(() => kairosJson<StatusJson>(['status'], h.env).repos[0]!.trust === 'trusted', { what: 'trusted again' });
    fx.work.commit('after review', { 'src/a.txt': 'four\n' });
    await waitFor(() => lines(repoLog) === 2, { what: "the repository's trigger runs again once re-trusted" });
  } finally {
    if (d) {
      d.kill('SIGTERM');
      await d.exited;
    }
    h.cleanup();
    fx.cleanup();
  }
});

test("a repository's own task already queued when its policy changes is skipped with the reason, never run", { timeout: 180_000 }, async () => {
  const fx = makeRepoWithUpstream('plain');
  const outside = fs.mkdtempSync(path.join(path.dirname(fx.upstream.dir), 'outside-'));
  const repoLog = path.join(outside, 'repo-run.log');
  const userLog = path.join(outside, 'user-run.log');
  const h = makeHome(`
triggers:
  - name: user-echo
    on: { git: [pull, commit] }
    settle_ms: 200
    run: echo user >> ${userLog}
    notify: never
`);
  let d: DaemonProcess | undefined;
  try {
    fx.work.commit('a policy', { '.kairos/policy.yaml': repoPolicy(repoLog, 'v1') });
    assert.equal(kairos(['trust', fx.work.dir], h.env).code, 0);
    d = await spawnDaemon([fx.work.dir], h.env);
    // Paused: the commit's tasks are queued and held by the gate.
    assert.equal(kairos(['pause'], h.env).code, 0);
    fx.work.commit('work', { 'src/a.txt': 'one\n' });
    const held = await waitFor(() => {
      const ts = kairosJson<TaskJson[]>(['tasks'], h.env).filter((t) => t.state === 'queued');
      return ts.length === 2 ? ts : undefined;
    }, { what: 'both tasks queued and held' });
    // The policy file changes in the working tree (no git event at all), then work resumes.
    fs.writeFileSync(path.join(fx.work.dir, '.kairos/policy.yaml'), repoPolicy(repoLog, 'edited'));
    assert.equal(kairos(['resume'], h.env).code, 0);
    const final = await waitFor(() => {
      const ts = kairosJson<TaskJson[]>(['tasks'], h.env).filter((t) => held.some((x) => x.id === t.id));
      return ts.every((t) => t.state === 'done' || t.state === 'skipped') ? ts : undefined;
    }, { what: 'the held tasks settled' });
    const repoTask = final.find((t) => t.trigger === 'repo-run')!;
    const userTask = final.find((t) => t.trigger === 'user-echo')!;
    assert.equal(userTask.state, 'done', "the user's own trigger runs");
    assert.equal(repoTask.state, 'skipped');
    assert.match(repoTask.reason ?? '', /not run: .*comes from the repository's own policy, whose policy or hook files changed since you trusted it/);
    assert.equal(fs.existsSync(repoLog), false, "the repository's command ran");
    const rows = kairosJson<Array<{ task_id: number | null; layer: string; verdict: string; what: string }>>(['audit', '--task', String(repoTask.id)], h.env);
    assert.ok(rows.some((r) => r.what === 'start command task' && r.layer === 'trust' && r.verdict === 'deny'), JSON.stringify(rows));
  } finally {
    if (d) {
      d.kill('SIGTERM');
      await d.exited;
    }
    h.cleanup();
    fx.cleanup();
  }
});
