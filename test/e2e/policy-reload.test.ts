import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeHome, kairos, kairosJson, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';

const trigger = (name: string, dir: string): string => `
  - name: ${name}
    on: { fs: ["${dir}/**"] }
    settle_ms: 200
    run: 'echo ${name}'
    notify: never`;

interface Status {
  repos: Array<{ triggers: string[] }>;
  policy: { loaded_at: string; last_reload: { ok: boolean; error: string | null; at: string } | null };
}
interface TaskJson { id: number; trigger: string; state: string }

/** An editor's save: write a temp file beside it and rename it over (the file's inode changes). */
function saveAtomically(file: string, text: string): void {
  const tmp = `${file}.swp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

describe('the policy file reloads live (real daemon, no SIGHUP)', () => {
  const h = makeHome(`triggers:${trigger('first', 'one')}\n`);
  const repo = makeRepo();
  const policyFile = path.join(h.home, 'policy.yaml');
  const notes = (): string => (fs.existsSync(path.join(h.home, 'notifications.jsonl')) ? fs.readFileSync(path.join(h.home, 'notifications.jsonl'), 'utf8') : '');
  const status = (): Status => kairosJson<Status>(['status'], h.env);
  const doneTasks = (name: string): TaskJson[] => kairosJson<TaskJson[]>(['tasks', '--limit', '200'], h.env).filter((t) => t.trigger === name && t.state === 'done');
  let d: DaemonProcess;
  after(async () => {
    d?.kill('SIGTERM');
    await d?.exited;
    repo.cleanup();
    h.cleanup();
  });

  test('an edit adding a trigger applies without a restart, and the new trigger fires', async () => {
    d = await spawnDaemon([repo.dir], h.env);
    const loadedAt = status().policy.loaded_at;
    assert.equal(status().policy.last_reload, null);
    saveAtomically(policyFile, `triggers:${trigger('first', 'one')}${trigger('second', 'two')}\n`);
    const s = await waitFor(() => (status().policy.last_reload?.ok ? status() : undefined), { what: 'reload after the edit' });
    assert.deepEqual(s.repos[0]!.triggers, ['first', 'second']);
    assert.ok(s.policy.loaded_at > loadedAt);
    repo.write('two/a.txt', 'a\n');
    // At least once: the file in a new folder can surface as an add (the folder's listing saw it
    // created) and a change (the watcher saw the write) more than settle_ms apart on a loaded machine.
    await waitFor(() => doneTasks('second').length >= 1, { what: 'the new trigger ran' });
  });

  test('a broken edit is kept out: status says why, the old policy still fires, a notification and the daily log say so', async () => {
    fs.writeFileSync(policyFile, `triggers:${trigger('first', 'one')}\n  - name: third\n    on: { fs: ["three/**"\n`);
    const s = await waitFor(() => (status().policy.last_reload?.ok === false ? status() : undefined), { what: 'a failed reload in status' });
    assert.match(s.policy.last_reload!.error!, /policy\.yaml/);
    assert.match(s.policy.last_reload!.error!, /line \d+|YAML/);
    assert.deepEqual(s.repos[0]!.triggers, ['first', 'second'], 'the previous policy stays in force');
    const human = kairos(['status'], h.env);
    assert.match(human.stdout, /policy: the edit at .* was not applied \(the previous policy is in force\)/);
    await waitFor(() => notes().includes('policy edit not applied'), { what: 'notification recorded' });
    const daily = kairos(['logs'], h.env);
    assert.match(daily.stdout, /edited policy is invalid, so the previous policy stays in force/);
    // Counted from here: one earlier write may have surfaced as an add and a change (two runs).
    const before = doneTasks('second').length;
    repo.write('two/b.txt', 'b\n');
    await waitFor(() => doneTasks('second').length > before, { what: 'the old trigger still fires' });
    assert.equal(d.proc.exitCode, null, 'the daemon keeps running');
  });

  test('an edit of hooks.json reloads too', async () => {
    const before = status().policy.last_reload!.at;
    fs.writeFileSync(path.join(h.home, 'hooks.json'), '{ "hooks": {} }\n');
    await waitFor(() => status().policy.last_reload!.at > before, { what: 'a reload after the hooks edit' });
  });

  test('fixing the file reloads again', async () => {
    saveAtomically(policyFile, `triggers:${trigger('first', 'one')}${trigger('third', 'three')}\n`);
    const s = await waitFor(() => (status().policy.last_reload?.ok ? status() : undefined), { what: 'reload after the fix' });
    assert.deepEqual(s.repos[0]!.triggers, ['first', 'third']);
    await waitFor(() => notes().includes('policy applied'), { what: 'fixed notification' });
    repo.write('three/c.txt', 'c\n');
    await waitFor(() => doneTasks('third').length === 1, { what: 'the fixed policy fires' });
  });
});
