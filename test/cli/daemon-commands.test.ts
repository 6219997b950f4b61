import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { kairos, kairosJson, makeHome, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { makeRepo, type TestRepo } from '../support/git-repo.js';

/** `poke --trigger` and `pause` / `resume` answered by a real daemon. */

const POLICY = `
triggers:
  - name: hello
    on: { manual: true }
    run: echo hello
    notify: never
  - name: lint
    on: { fs: ["**/*.js"] }
    run: echo lint
    notify: never
  - name: sleeper
    enabled: false
    on: { manual: true }
    run: echo never
`;

interface TaskJson {
  id: number;
  trigger: string;
  state: string;
}

describe('against a running daemon', () => {
  let h: ReturnType<typeof makeHome>;
  let repo: TestRepo;
  let d: DaemonProcess;

  before(async () => {
    h = makeHome(POLICY);
    repo = makeRepo();
    d = await spawnDaemon([repo.dir], h.env);
  });

  after(async () => {
    d?.kill('SIGTERM');
    await d?.exited;
    repo?.cleanup();
    h?.cleanup();
  });

  // Bad input refused by the daemon exits 2, as bad input the CLI refuses itself does (issue 14: it was 1).
  test('poke --trigger with an unknown name fails, naming the known triggers, and stores no event', async () => {
    const before = kairosJson<unknown[]>(['events', '--type', 'manual'], h.env).length;
    const r = kairos(['poke', '--trigger', 'helo'], h.env);
    assert.equal(r.code, 2, r.stdout);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^kairos: no trigger 'helo' in the policy of any watched repository; known triggers: hello, lint\n'kairos status' lists each repository's triggers\n$/);
    const named = kairos(['poke', '--repo', repo.dir, '--trigger', 'helo'], h.env);
    assert.equal(named.code, 2);
    assert.match(named.stderr, new RegExp(`no trigger 'helo' in the policy of ${repo.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; known triggers: hello, lint`));

    // The refusal stored nothing: the next (good) poke's event is the only new one, and it runs.
    const ok = kairos(['poke', '--trigger', 'hello'], h.env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^kairos: poked \(event \d+\)\n$/);
    const events = kairosJson<Array<{ data: { trigger?: string } }>>(['events', '--type', 'manual'], h.env);
    assert.equal(events.length, before + 1);
    assert.equal(events[0]!.data.trigger, 'hello');
    await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.trigger === 'hello' && t.state === 'done'), { what: 'the hello task done' });
  });

  test('poke --trigger naming a disabled trigger says it is disabled', () => {
    const r = kairos(['poke', '--trigger', 'sleeper'], h.env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /trigger 'sleeper' is disabled \(enabled: false\) in the policy of any watched repository\nenable it in the policy, then poke again\n$/);
  });

  test('resume when not paused says so; pause, pause again, resume say what happened', () => {
    assert.equal(kairos(['resume'], h.env).stdout, 'kairos: not paused; nothing to resume\n');
    const p = kairos(['pause'], h.env);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /^kairos: paused since \S+; /);
    assert.match(kairos(['pause'], h.env).stdout, /^kairos: already paused since /);
    assert.equal(kairosJson<{ paused: boolean }>(['status'], h.env).paused, true, 'the daemon itself is paused');
    assert.equal(kairos(['resume'], h.env).stdout, 'kairos: resumed\n');
    assert.equal(kairosJson<{ paused: boolean }>(['status'], h.env).paused, false);
    assert.equal(kairos(['resume'], h.env).stdout, 'kairos: not paused; nothing to resume\n');
  });
});
