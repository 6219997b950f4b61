import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kairos, kairosJson, scenario, waitFor, withDaemon } from '../support/kairos.js';
import { startFakeAnthropic } from '../support/fake-anthropic.js';
import { dbusUnavailableReason, startDbusSession, startNotificationServer } from '../support/dbus-session.js';
import { treeHash } from '../support/tree-hash.js';

interface TaskJson { kind: string; state: string; reason: string | null }
interface ApprovalJson { id: string; state?: string }

const POLICY = `
triggers:
  - name: fix
    on: { manual: true }
    ask: "make add() add"
    notify: never
budget: { task_usd: 1, day_usd: 5 }
models: { act: claude-sonnet-4-6, triage: claude-haiku-4-5 }
`;

test('agent proposal → notification with actions on a real D-Bus server → Approve → exactly the proposed diff in the tree', async (t) => {
  const unavailable = dbusUnavailableReason();
  if (unavailable) return t.skip(unavailable);
  const bus = await startDbusSession();
  const server = await startNotificationServer(bus.address);
  const fake = await startFakeAnthropic();
  try {
    await scenario(POLICY, async ({ h, repo }) => {
      h.env.ANTHROPIC_API_KEY = 'sk-ant-test-key';
      h.env.ANTHROPIC_BASE_URL = fake.url;
      h.env.DBUS_SESSION_BUS_ADDRESS = bus.address;
      delete h.env.KAIROS_NOTIFY; // notifications on: the proposal goes to the bus
      repo.write('src/add.js', 'export const add = (a, b) => a - b;\n');
      repo.commit('bug');
      assert.equal(kairos(['trust', repo.dir], h.env).code, 0);
      fake.script(
        { content: [{ type: 'tool_use', name: 'edit_file', input: { path: 'src/add.js', old: 'a - b', new: 'a + b' } }], stop_reason: 'tool_use' },
        { content: [{ type: 'tool_use', name: 'propose', input: { summary: 'add() now adds' } }], stop_reason: 'tool_use' },
      );
      const before = treeHash(repo.dir);
      await withDaemon([repo.dir], h.env, async () => {
        assert.equal(kairos(['poke', '--repo', repo.dir, '--trigger', 'fix'], h.env).code, 0);
        const note = await server.waitForNotification((n) => n.actions.includes('approve'), 0, 60_000);
        assert.equal(note.appName, 'Kairos');
        assert.match(note.summary, /proposes a change/);
        assert.match(note.body, /add\(\) now adds/);
        assert.deepEqual(note.actions, ['approve', 'Approve', 'deny', 'Deny', 'show', 'Show']);
        assert.equal(treeHash(repo.dir), before, 'nothing applied before the click');
        const [pending] = kairosJson<ApprovalJson[]>(['pending'], h.env);
        assert.ok(pending, 'the proposal waits in the queue');

        server.invokeAction(note.id, 'approve');
        await waitFor(() => fs.readFileSync(path.join(repo.dir, 'src/add.js'), 'utf8').includes('a + b'), { what: 'applied by the notification action' });
        assert.equal(fs.readFileSync(path.join(repo.dir, 'src/add.js'), 'utf8'), 'export const add = (a, b) => a + b;\n');
        await waitFor(() => kairosJson<ApprovalJson[]>(['pending'], h.env).length === 0, { what: 'approval decided' });
        const after = treeHash(repo.dir);

        await server.waitForNotification((n) => n.replacesId === note.id && /applied/.test(n.summary), 0, 30_000);

        // The same button again: the one-time token is spent; the daemon answers it (refused, on screen) and nothing changes.
        const from = server.notifications.length;
        server.invokeAction(note.id, 'approve');
        const refused = await server.waitForNotification((n) => n.replacesId === note.id, from, 30_000);
        assert.match(refused.summary, /already decided|refused/);
        assert.equal(treeHash(repo.dir), after);
        // The task follows its proposal (issue 12): approved and applied.
        const agent = kairosJson<TaskJson[]>(['tasks'], h.env).find((x) => x.kind === 'agent');
        assert.equal(agent?.state, 'applied');
      });
    });
  } finally {
    await fake.close();
    await server.stop();
    await bus.stop();
  }
});
