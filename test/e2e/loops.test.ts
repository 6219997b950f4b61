import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kairos, kairosJson, scenario, spawnDaemon, waitFor, withDaemon, type DaemonProcess } from '../support/kairos.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { dunstUnavailableReason, startDunst, type Dunst, type ShownByDunst } from '../support/dunst.js';
import { callDaemon } from '../../src/cli/control-client.js';
import { readDailyLog } from '../../src/report/daily-log.js';
import { openDb, storePath } from '../../src/store/db.js';
import type { TestRepo } from '../support/git-repo.js';

/**
 * The loops a person at the desk sees, closed, through the real daemon, the real CLI, the real
 * agent loop against the fake Messages API, and a REAL notification server (dunst on a private
 * bus under Xvfb): the id shown is the id every command takes; tasks follow their proposal; every
 * decision is in the daily log with who made it; a notification disappears once its proposal is
 * decided anywhere; an identical proposal is not queued twice; `after_apply: rerun` reports back.
 */

interface TaskJson {
  id: number;
  kind: string;
  state: string;
  reason: string | null;
  approval_id?: string;
  data?: unknown;
}
interface PendingJson {
  id: string;
  proposal_id: string;
}

const tool = (name: string, input: Record<string, unknown>) => ({ content: [{ type: 'tool_use' as const, name, input }], stop_reason: 'tool_use' as const });
const FIX = [tool('edit_file', { path: 'src/add.js', old: 'a - b', new: 'a + b' }), tool('propose', { summary: 'add() now adds' })];

const ASK_POLICY = `
triggers:
  - name: fix
    on: { manual: true }
    ask: "make add() add"
    notify: never
budget: { task_usd: 1, day_usd: 5 }
models: { act: claude-sonnet-4-6, triage: claude-haiku-4-5 }
`;

const unavailable = dunstUnavailableReason();

interface Loop {
  h: { home: string; env: NodeJS.ProcessEnv };
  repo: TestRepo;
  dunst: Dunst;
  fake: FakeAnthropic;
  /** A folder first on the daemon's PATH (for an xdg-open of the test's choosing). */
  bin: string;
  daemon: DaemonProcess;
}

/** A home with `policy`, a trusted repo with a bug, dunst, the fake API, and the daemon wired to all of them. */
async function withLoop(policy: string, fn: (l: Loop) => Promise<void>, opts: { xdgOpen?: string } = {}): Promise<void> {
  const dunst = await startDunst();
  const fake = await startFakeAnthropic();
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-loops-bin-'));
  try {
    await scenario(policy, async ({ h, repo }) => {
      h.env.ANTHROPIC_API_KEY = 'sk-ant-test-key';
      h.env.ANTHROPIC_BASE_URL = fake.url;
      h.env.DBUS_SESSION_BUS_ADDRESS = dunst.busAddress;
      h.env.DISPLAY = dunst.display;
      delete h.env.WAYLAND_DISPLAY;
      delete h.env.KAIROS_NOTIFY; // notifications on: they go to dunst
      if (opts.xdgOpen) fs.writeFileSync(path.join(bin, 'xdg-open'), opts.xdgOpen, { mode: 0o755 });
      h.env.PATH = `${bin}${path.delimiter}${h.env.PATH ?? ''}`;
      repo.write('package.json', '{ "type": "module" }\n');
      repo.write('src/add.js', 'export const add = (a, b) => a - b;\n');
      repo.write('test/add.test.js', "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from '../src/add.js';\ntest('adds', () => assert.equal(add(2, 3), 5));\n");
      repo.commit('add, with a bug');
      assert.equal(kairos(['trust', repo.dir], h.env).code, 0);
      await withDaemon([repo.dir], h.env, (daemon) => fn({ h, repo, dunst, fake, bin, daemon }));
    });
  } finally {
    await fake.close();
    await dunst.stop();
    fs.rmSync(bin, { recursive: true, force: true });
  }
}

const isProposal = (n: ShownByDunst): boolean => n.summary.startsWith('Kairos proposes a change');
/** The id a proposal notification shows (in its title). */
const shownId = (n: ShownByDunst): string => /\(([a-z0-9]+)\)$/.exec(n.summary)![1]!;
const addJs = (repo: TestRepo): string => fs.readFileSync(path.join(repo.dir, 'src/add.js'), 'utf8');
const agentTasks = (l: Loop): TaskJson[] => kairosJson<TaskJson[]>(['tasks'], l.h.env).filter((t) => t.kind === 'agent');
const daily = (l: Loop): string => readDailyLog(l.h.home, new Date()) ?? '';

async function proposalShown(l: Loop, from = 0): Promise<ShownByDunst> {
  return l.dunst.waitShown((n, i) => i >= from && isProposal(n), 'a proposal notification', 90_000);
}

describe('the loops a person sees, against dunst', { skip: unavailable ?? false }, () => {
  test('notification Approve → applied, follow-up says how to undo, the tests re-run and pass; undo by the shown id; task states and daily log follow', async () => {
    const policy = `
triggers:
  - name: tests
    on: { manual: true }
    run: node --test test/
    ask: "the tests failed: propose a minimal fix"
    ask_on: failure
    after_apply: rerun
    notify: never
permissions:
  allow: ["Bash(node --test:*)"]
budget: { task_usd: 1, day_usd: 5 }
models: { act: claude-sonnet-4-6, triage: claude-haiku-4-5 }
`;
    await withLoop(policy, async (l) => {
      l.fake.script(...FIX);
      assert.equal(kairos(['poke', '--repo', l.repo.dir, '--trigger', 'tests'], l.h.env).code, 0);
      const note = await proposalShown(l);
      const id = shownId(note);
      // One app name, one icon (Kairos's own PNG), the id in the title.
      assert.equal(note.appName, 'Kairos');
      assert.equal(note.iconPath, path.join(l.h.home, 'icons', 'kairos.png'));
      assert.match(note.body, /add\(\) now adds/);
      const [pending] = kairosJson<PendingJson[]>(['pending'], l.h.env);
      assert.equal(pending!.id, id, 'the notification shows the id `pending` lists');
      assert.equal(pending!.proposal_id, id, 'one id: the approval is named after its proposal');
      if (process.env.KAIROS_LOOPS_SCREENSHOT) l.dunst.screenshot(process.env.KAIROS_LOOPS_SCREENSHOT);
      assert.equal(agentTasks(l)[0]!.state, 'proposed');

      l.dunst.click(note.id, 'approve');
      await waitFor(() => addJs(l.repo).includes('a + b'), { what: 'the fix applied by the dunst click' });
      const follow = await l.dunst.waitShown((n) => n.id === note.id && n.summary === `Kairos applied ${id}`, 'the follow-up');
      assert.match(follow.body, new RegExp(`Undo: kairos undo ${id}`));
      const task = await waitFor(() => agentTasks(l).find((t) => t.state === 'applied'), { what: 'the agent task applied' });
      assert.match(task.reason ?? '', new RegExp(`approved via notification.*kairos undo ${id}`));
      // after_apply: rerun — the trigger's command ran again on the fixed tree, and said so.
      const rerun = await l.dunst.waitShown((n) => /tests passes now/.test(n.summary), 'the re-run result', 90_000);
      assert.equal(rerun.appName, 'Kairos');
      assert.match(rerun.body, new RegExp(`passes after applying ${id}`));
      const reruns = kairosJson<TaskJson[]>(['tasks'], l.h.env).filter((t) => t.kind === 'command' && (t as { after_apply?: string }).after_apply === id);
      assert.equal(reruns.length, 1);
      assert.equal(reruns[0]!.state, 'done');
      assert.match(daily(l), new RegExp(`approved ${id} via notification: 1 file \\(src/add\\.js\\) applied.*undo: kairos undo ${id}`));
      assert.match(daily(l), new RegExp(`re-run after applying ${id}: passes now`));

      // Undo by exactly the id the notification showed.
      const undo = kairos(['undo', id], l.h.env);
      assert.equal(undo.code, 0, undo.stderr);
      assert.match(undo.stdout, new RegExp(`undid ${id}`));
      assert.equal(addJs(l.repo), 'export const add = (a, b) => a - b;\n');
      await waitFor(() => agentTasks(l).find((t) => t.id === task.id && t.state === 'undone'), { what: 'the task undone' });
      assert.match(daily(l), new RegExp(`undid ${id} via cli: 1 file \\(src/add\\.js\\) restored`));
      // A prefix works too, and the task follows back to applied.
      const again = kairos(['apply', id.slice(0, 5), '--hash', kairosJson<{ hash: string }>(['show', id], l.h.env).hash], l.h.env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, new RegExp(`undo:  kairos undo ${id}`));
      await waitFor(() => agentTasks(l).find((t) => t.id === task.id && t.state === 'applied'), { what: 'the task applied again' });
    });
  });

  test('a CLI approve withdraws the notification from dunst (0 displayed) and prints the undo command; Show with no working opener says what to run', async () => {
    // An xdg-open that cannot open anything (as on a box without a desktop): exit 3, like the real one.
    await withLoop(
      ASK_POLICY,
      async (l) => {
        l.fake.script(...FIX);
        assert.equal(kairos(['poke', '--repo', l.repo.dir, '--trigger', 'fix'], l.h.env).code, 0);
        const note = await proposalShown(l);
        const id = shownId(note);
        assert.equal(l.dunst.displayedCount(), 1);

        l.dunst.click(note.id, 'show');
        const shown = await l.dunst.waitShown((n) => n.id === note.id && /diff of/.test(n.summary), 'the Show follow-up');
        assert.match(shown.body, new RegExp(`Nothing here could open it .*xdg-open failed \\(exit code 3\\)`));
        assert.match(shown.body, new RegExp(`Run: kairos show ${id}`));
        assert.doesNotMatch(shown.body, /Opened/);

        const r = kairos(['approve', id], l.h.env);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`approved ${id}`));
        assert.match(r.stdout, new RegExp(`undo:  kairos undo ${id}`));
        await waitFor(() => l.dunst.historyIds().includes(note.id), { what: 'dunst to close the notification' });
        assert.equal(l.dunst.displayedCount(), 0, 'the decided proposal is no longer on screen');
        assert.equal(addJs(l.repo), 'export const add = (a, b) => a + b;\n');
        assert.equal(agentTasks(l)[0]!.state, 'applied');
        assert.match(daily(l), new RegExp(`approved ${id} via cli: 1 file \\(src/add\\.js\\) applied.*undo: kairos undo ${id}`));
      },
      { xdgOpen: '#!/bin/sh\nexit 3\n' },
    );
  });

  test('deny from the CLI and expiry: the task follows, the notification goes, the daily log says who', async () => {
    const script = '#!/bin/sh\nprintf "%s" "$1" > "$(dirname "$0")/opened"\n';
    await withLoop(
      ASK_POLICY,
      async (l) => {
        l.fake.script(...FIX, tool('edit_file', { path: 'src/add.js', old: 'a - b', new: 'b + a' }), tool('propose', { summary: 'add() adds, the other way round' }));
        assert.equal(kairos(['poke', '--repo', l.repo.dir, '--trigger', 'fix'], l.h.env).code, 0);
        const first = await proposalShown(l);
        const firstId = shownId(first);

        // Show with a working opener: it really opens the diff file, and says so.
        l.dunst.click(first.id, 'show');
        const shown = await l.dunst.waitShown((n) => n.id === first.id && /diff of/.test(n.summary), 'the Show follow-up');
        assert.match(shown.body, /Opened the diff with xdg-open/);
        const opened = fs.readFileSync(path.join(l.bin, 'opened'), 'utf8');
        assert.match(fs.readFileSync(opened, 'utf8'), /-export const add = \(a, b\) => a - b;/);

        const denied = kairos(['deny', firstId.slice(0, 6), '--reason', 'not like this'], l.h.env);
        assert.equal(denied.code, 0, denied.stderr);
        await waitFor(() => l.dunst.historyIds().includes(first.id), { what: 'the denied proposal withdrawn' });
        assert.equal(l.dunst.displayedCount(), 0);
        await waitFor(() => agentTasks(l).find((t) => t.state === 'denied'), { what: 'the task denied' });
        assert.match(daily(l), new RegExp(`denied ${firstId} via cli \\(not like this\\)`));

        const mark = l.dunst.shown().length;
        assert.equal(kairos(['poke', '--repo', l.repo.dir, '--trigger', 'fix'], l.h.env).code, 0);
        const second = await proposalShown(l, mark);
        const secondId = shownId(second);
        // Its time runs out (the store's clock moved on); the next decision attempt finds it expired.
        const db = openDb(storePath(l.h.home));
        try {
          db.prepare('UPDATE approvals SET expires_at = ? WHERE id = ?').run(new Date(Date.now() - 1000).toISOString(), secondId);
        } finally {
          db.close();
        }
        const late = kairos(['approve', secondId], l.h.env);
        assert.notEqual(late.code, 0);
        assert.match(late.stderr, /expired at/);
        await waitFor(() => l.dunst.historyIds().includes(second.id), { what: 'the expired proposal withdrawn' });
        assert.equal(l.dunst.displayedCount(), 0);
        const states = agentTasks(l).map((t) => t.state).sort();
        assert.deepEqual(states, ['denied', 'expired']);
        assert.match(daily(l), new RegExp(`expired ${secondId}: nobody decided before`));
        assert.equal(addJs(l.repo), 'export const add = (a, b) => a - b;\n', 'nothing applied');
      },
      { xdgOpen: script },
    );
  });

  test('two identical proposals: one approval, one notification; both tasks follow it; a tray approval notifies how to undo and withdraws the proposal', async () => {
    await withLoop(ASK_POLICY, async (l) => {
      l.fake.script(...FIX, ...FIX);
      assert.equal(kairos(['poke', '--repo', l.repo.dir, '--trigger', 'fix'], l.h.env).code, 0);
      const note = await proposalShown(l);
      const id = shownId(note);
      assert.equal(kairos(['poke', '--repo', l.repo.dir, '--trigger', 'fix'], l.h.env).code, 0);
      const tasks = await waitFor(
        () => {
          const t = agentTasks(l);
          return t.length === 2 && t.every((x) => x.state === 'proposed') ? t : null;
        },
        { what: 'both agent tasks proposed', timeoutMs: 90_000 },
      );
      assert.deepEqual(tasks.map((t) => t.approval_id), [id, id], 'the second task points at the waiting approval');
      assert.match(tasks.find((t) => t.id !== Math.min(...tasks.map((x) => x.id)))!.reason ?? '', /the same diff was already waiting/);
      assert.deepEqual(kairosJson<PendingJson[]>(['pending'], l.h.env).map((p) => p.id), [id]);
      assert.equal(l.dunst.shown().filter(isProposal).length, 1, 'one notification for the two proposals');
      assert.match(daily(l), new RegExp(`same diff as ${id}, which already waits`));

      // What the tray's Approve sends (see tray-menu.ts onClick), on the daemon's socket.
      const mark = l.dunst.shown().length;
      await callDaemon(l.h.home, 'approvals.approve', { id, channel: 'tray' }, 120_000);
      const applied = await l.dunst.waitShown((n, i) => i >= mark && n.summary === `Kairos applied ${id}`, 'the tray approval notice');
      assert.match(applied.body, new RegExp(`Undo: kairos undo ${id}`));
      await waitFor(() => l.dunst.historyIds().includes(note.id), { what: 'the proposal withdrawn' });
      await waitFor(() => agentTasks(l).every((t) => t.state === 'applied'), { what: 'both tasks applied' });
      assert.match(daily(l), new RegExp(`approved ${id} via tray`));
    });
  });

  test('the daemon stops: its proposal notifications go with their dead buttons; started again, the proposal is shown again and its Approve works', async () => {
    await withLoop(ASK_POLICY, async (l) => {
      l.fake.script(...FIX);
      assert.equal(kairos(['poke', '--repo', l.repo.dir, '--trigger', 'fix'], l.h.env).code, 0);
      const before = await proposalShown(l);
      const id = shownId(before);
      assert.equal(kairos(['stop'], l.h.env).code, 0);
      await l.daemon.exited;
      assert.ok(l.dunst.historyIds().includes(before.id), 'the notification outlived the daemon that answers its buttons');
      assert.equal(l.dunst.displayedCount(), 0);

      const mark = l.dunst.shown().length;
      const again = await spawnDaemon([l.repo.dir], l.h.env);
      try {
        const shown = await proposalShown(l, mark);
        assert.equal(shownId(shown), id, 'the same proposal, under the same id');
        assert.notEqual(shown.id, before.id);
        l.dunst.click(shown.id, 'approve');
        await waitFor(() => addJs(l.repo).includes('a + b'), { what: 'applied by the new notification' });
        await waitFor(() => agentTasks(l).find((t) => t.state === 'applied'), { what: 'the task applied' });
        assert.match(daily(l), new RegExp(`approved ${id} via notification`));
      } finally {
        again.kill('SIGTERM');
        await again.exited;
      }
    });
  });
});
