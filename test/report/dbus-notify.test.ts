import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { callDaemon } from '../../src/cli/control-client.js';
import { createDbusNotifier, type DbusNotifier } from '../../src/report/dbus-notify.js';
import { createNotifier, type ShownNotification } from '../../src/report/notify.js';
import { NotificationTokens, proposalNotification, type ActionOutcome } from '../../src/report/notify-actions.js';
import { approvalJson } from '../../src/pipeline/approvals.js';
import { dbusUnavailableReason, startDbusSession, startNotificationServer, type DbusSession, type NotificationServer } from '../support/dbus-session.js';
import { startApprovalControl, type ApprovalControl } from '../support/approval-control.js';

const SILENT = { debug() {}, info() {}, warn() {}, error() {} };

describe('notify-actions (pure)', () => {
  test('a click maps to the control call with that action token; unknown ids and keys map to nothing', () => {
    const t = new NotificationTokens(() => 0);
    t.remember(7, { approvalId: 'a1', tokens: { approve: 'TA', deny: 'TD', show: 'TS' }, expiresAt: new Date(1000).toISOString() });
    assert.deepEqual(t.requestFor(7, 'approve'), { method: 'approvals.approve', params: { id: 'a1', channel: 'notification', token: 'TA' }, approvalId: 'a1', action: 'approve' });
    assert.equal(t.requestFor(7, 'deny')!.params.token, 'TD');
    assert.equal(t.requestFor(7, 'show')!.method, 'approvals.show');
    assert.equal(t.requestFor(8, 'approve'), null);
    assert.equal(t.requestFor(7, 'default'), null);
  });

  test('tokens are dropped once the approval has expired', () => {
    let now = 0;
    const t = new NotificationTokens(() => now);
    t.remember(1, { approvalId: 'a1', tokens: { approve: 'x', deny: 'y', show: 'z' }, expiresAt: new Date(1000).toISOString() });
    now = 1000;
    assert.equal(t.requestFor(1, 'approve'), null);
    assert.equal(t.size, 0);
  });

  test('without buttons the body names the commands, even when the summary is long', () => {
    const n = proposalNotification({ approvalId: 'ab12cd', summary: 'x'.repeat(500), tokens: { approve: 'TOKEN-A', deny: 'TOKEN-D', show: 'TOKEN-S' } }, { withCommands: true });
    assert.match(n.body, /kairos approve ab12cd/);
    assert.ok(!JSON.stringify(n).includes('TOKEN'));
  });
});

const reason = dbusUnavailableReason();

describe('D-Bus notifications with actions, on a private session bus', { skip: reason ?? false }, () => {
  let session: DbusSession;
  let server: NotificationServer;
  let control: ApprovalControl;
  let notifier: DbusNotifier;
  const outcomes: ActionOutcome[] = [];
  const opened: string[] = [];
  const waiters = new Set<() => void>();

  const waitOutcomes = (n: number): Promise<ActionOutcome[]> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`waited for ${n} outcomes, have ${JSON.stringify(outcomes)}`)), 15_000);
      const check = (): void => {
        if (outcomes.length >= n) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(outcomes.slice());
        }
      };
      waiters.add(check);
      check();
    });

  before(async () => {
    session = await startDbusSession();
    server = await startNotificationServer(session.address);
    control = await startApprovalControl();
    notifier = createDbusNotifier({
      appName: 'Kairos',
      busAddress: session.address,
      home: control.home,
      control: (m, p) => callDaemon(control.home, m, p),
      onOutcome: (o) => {
        outcomes.push(o);
        for (const w of waiters) w();
      },
      openFile: (f) => (opened.push(f), { opened: true, via: 'the test opener' }),
      log: SILENT,
    });
  });

  after(async () => {
    await notifier?.close();
    await server?.stop();
    await session?.stop();
    await control?.close();
  });

  test('reads the server capabilities', async () => {
    const caps = await notifier.capabilities();
    assert.ok(caps?.includes('actions'));
  });

  test('a proposal notification carries title, body and Approve / Deny / Show, and no token', async () => {
    const { approval, tokens } = control.enqueue('Fix the failing date test in src/date.ts');
    const r = await notifier.notifyProposal({ approvalId: approval.id, summary: approval.summary, repo: '/src/app', files: ['src/date.ts'], costUsd: 0.042, expiresAt: approval.expiresAt, tokens });
    assert.equal(r.channel, 'dbus');
    const seen = await server.waitForNotification((n) => n.id === (r as { notificationId: number }).notificationId);
    assert.equal(seen.appName, 'Kairos');
    assert.equal(seen.summary, `Kairos proposes a change in app (${approval.id})`);
    assert.match(seen.body, /Fix the failing date test in src\/date\.ts/);
    assert.match(seen.body, /1 file: src\/date\.ts · cost so far \$0\.04/);
    assert.deepEqual(seen.actions, ['approve', 'Approve', 'deny', 'Deny', 'show', 'Show']);
    assert.equal(seen.hints.resident, true);
    assert.equal(seen.expireTimeout, 0);
    const everything = JSON.stringify(server.notifications);
    for (const t of Object.values(tokens)) assert.ok(!everything.includes(t), 'a token reached the notification server');
  });

  test('Approve → the daemon gets approvals.approve with the id and the approve token; a second click is refused by the queue', async () => {
    const { approval, tokens } = control.enqueue('approve me');
    const r = await notifier.notifyProposal({ approvalId: approval.id, summary: approval.summary, expiresAt: approval.expiresAt, tokens });
    assert.equal(r.channel, 'dbus');
    const id = (r as { notificationId: number }).notificationId;
    const before = outcomes.length;
    const mark = server.notifications.length;

    server.invokeAction(id, 'approve');
    const [first] = (await waitOutcomes(before + 1)).slice(before);
    const calls = (await control.waitForCalls('approvals.approve', 1)).filter((c) => c.params.id === approval.id);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.params, { id: approval.id, channel: 'notification', token: tokens.approve });
    assert.equal(first!.ok, true);
    assert.equal(first!.action, 'approve');
    assert.deepEqual(control.applied, [approval.id]);
    const a = control.queue.get(approval.id)!;
    assert.equal(a.state, 'approved');
    assert.equal(a.decidedBy, 'notification');
    const follow = await server.waitForNotification((n) => n.id === id, mark);
    assert.equal(follow.summary, `Kairos applied ${approval.id}`);
    assert.deepEqual(follow.actions, []);

    // The same button again (a duplicate signal, a resident notification): passed through, refused by the queue.
    server.invokeAction(id, 'approve');
    const [second] = (await waitOutcomes(before + 2)).slice(before + 1);
    const again = (await control.waitForCalls('approvals.approve', 2)).filter((c) => c.params.id === approval.id);
    assert.equal(again.length, 2);
    assert.equal(again[1]!.params.token, tokens.approve);
    assert.equal(again[1]!.ok, false);
    assert.equal(second!.ok, false);
    assert.equal(second!.error!.code, 'bad_token');
    assert.match(second!.error!.message, /already used/);
    assert.deepEqual(control.applied, [approval.id], 'applied twice');
    const refused = await server.waitForNotification((n) => n.id === id && /refused/.test(n.summary), mark);
    assert.match(refused.body, /already used/);
  });

  test('Deny → approvals.deny with the deny token; the approval is denied and discarded', async () => {
    const { approval, tokens } = control.enqueue('deny me');
    const r = await notifier.notifyProposal({ approvalId: approval.id, summary: approval.summary, expiresAt: approval.expiresAt, tokens });
    const id = (r as { notificationId: number }).notificationId;
    const before = outcomes.length;
    server.invokeAction(id, 'deny');
    const [o] = (await waitOutcomes(before + 1)).slice(before);
    assert.equal(o!.ok, true);
    const call = control.calls.find((c) => c.method === 'approvals.deny' && c.params.id === approval.id)!;
    assert.deepEqual(call.params, { id: approval.id, channel: 'notification', token: tokens.deny });
    assert.equal(control.queue.get(approval.id)!.state, 'denied');
    assert.ok(control.discarded.includes(approval.id));
    assert.ok(!control.applied.includes(approval.id));
  });

  test('Show → approvals.show with the show token, the diff file is written 0600 and opened, Approve / Deny stay', async () => {
    const { approval, tokens } = control.enqueue('show me');
    const r = await notifier.notifyProposal({ approvalId: approval.id, summary: approval.summary, expiresAt: approval.expiresAt, tokens });
    const id = (r as { notificationId: number }).notificationId;
    const before = outcomes.length;
    const mark = server.notifications.length;
    server.invokeAction(id, 'show');
    const [o] = (await waitOutcomes(before + 1)).slice(before);
    assert.equal(o!.ok, true, JSON.stringify(o));
    const call = control.calls.find((c) => c.method === 'approvals.show' && c.params.id === approval.id)!;
    assert.equal(call.params.token, tokens.show);
    const file = opened.at(-1)!;
    assert.ok(file.startsWith(control.home));
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const follow = await server.waitForNotification((n) => n.id === id, mark);
    assert.deepEqual(follow.actions, ['approve', 'Approve', 'deny', 'Deny']);
    assert.equal(control.queue.get(approval.id)!.state, 'pending');
  });

  test('a proposal decided elsewhere is withdrawn (CloseNotification); the follow-up of a click answered here is not; plain ones say Kairos too', async () => {
    const { approval, tokens } = control.enqueue('decided on the CLI');
    const r = await notifier.notifyProposal({ approvalId: approval.id, summary: approval.summary, expiresAt: approval.expiresAt, tokens });
    const id = (r as { notificationId: number }).notificationId;
    await control.queue.approve(approval.id, { channel: 'cli' });
    assert.equal(await notifier.withdraw(approval.id), 1);
    assert.ok(server.closeRequests.includes(id));
    assert.equal(await notifier.withdraw(approval.id), 0, 'withdrawn once');

    const second = control.enqueue('denied by its own button');
    const r2 = await notifier.notifyProposal({ approvalId: second.approval.id, summary: second.approval.summary, expiresAt: second.approval.expiresAt, tokens: second.tokens });
    const id2 = (r2 as { notificationId: number }).notificationId;
    const before = outcomes.length;
    const mark = server.notifications.length;
    server.invokeAction(id2, 'deny');
    await waitOutcomes(before + 1);
    await server.waitForNotification((n) => n.id === id2 && /discarded/.test(n.summary), mark);
    assert.equal(await notifier.withdraw(second.approval.id), 0);
    assert.ok(!server.closeRequests.includes(id2), 'the follow-up of the click was closed');

    const m2 = server.notifications.length;
    await notifier.notifyPlain({ title: 'app: tests passes now', body: 'ok', urgency: 'normal', actions: [] });
    const plain = await server.waitForNotification((n) => n.summary === 'app: tests passes now', m2);
    assert.equal(plain.appName, 'Kairos');
    assert.equal(plain.appIcon, 'dialog-information');
    assert.deepEqual(plain.actions, []);
  });

  test("another application's notification id is ignored: no control call", async () => {
    const fenceProposal = control.enqueue('the fence click');
    const r = await notifier.notifyProposal({ approvalId: fenceProposal.approval.id, summary: fenceProposal.approval.summary, expiresAt: fenceProposal.approval.expiresAt, tokens: fenceProposal.tokens });
    const fenceId = (r as { notificationId: number }).notificationId;
    const count = control.calls.length;
    const before = outcomes.length;
    server.invokeAction(9999, 'approve');
    // Signals arrive in order and a click is looked up as it arrives: once the fence click after it
    // has been answered, the foreign one has been handled too.
    server.invokeAction(fenceId, 'deny');
    await waitOutcomes(before + 1);
    assert.deepEqual(control.calls.slice(count).map((c) => c.params.id), [fenceProposal.approval.id], 'only the fence click reached the control API');
  });
});

describe('fallback when buttons are not available', { skip: reason ?? false }, () => {
  test('a server without "actions" gets nothing from us; the fallback says the commands to run', async () => {
    const session = await startDbusSession();
    const server = await startNotificationServer(session.address, { capabilities: ['body'] });
    const shown: ShownNotification[] = [];
    const fallback = createNotifier({ enabled: true, log: SILENT, backend: async (n) => void shown.push(n) });
    const notifier = createDbusNotifier({ busAddress: session.address, home: '/nonexistent', control: async () => assert.fail('no control call expected'), fallback, log: SILENT });
    try {
      const r = await notifier.notifyProposal({ approvalId: 'k7x2', summary: 'Rename helper', tokens: { approve: 'SECRET-A', deny: 'SECRET-D', show: 'SECRET-S' } });
      assert.equal(r.channel, 'fallback');
      assert.match((r as { reason: string }).reason, /does not support actions/);
      assert.equal(server.notifications.length, 0);
      assert.equal(shown.length, 1);
      assert.match(shown[0]!.body, /kairos approve k7x2/);
      assert.ok(!JSON.stringify(shown).includes('SECRET'));
    } finally {
      await notifier.close();
      await server.stop();
      await session.stop();
    }
  });

  test('a server off the specification (Notify answers a string id): the fallback is used, no token is kept for an id clicks cannot match', async () => {
    const session = await startDbusSession();
    const server = await startNotificationServer(session.address, { notifyAnswersString: true });
    const shown: ShownNotification[] = [];
    const fallback = createNotifier({ enabled: true, log: SILENT, backend: async (n) => void shown.push(n) });
    const notifier = createDbusNotifier({ busAddress: session.address, home: '/nonexistent', control: async () => assert.fail('no control call expected'), fallback, log: SILENT });
    try {
      const r = await notifier.notifyProposal({ approvalId: 'w9', summary: 'Odd server', tokens: { approve: 'SECRET-A', deny: 'SECRET-D', show: 'SECRET-S' } });
      assert.equal(r.channel, 'fallback');
      assert.match((r as { reason: string }).reason, /Notify failed: the notification server answered Notify with string/);
      assert.equal(server.notifications.length, 1, 'the server was asked once');
      assert.match(shown[0]!.body, /kairos approve w9/);
    } finally {
      await notifier.close();
      await server.stop();
      await session.stop();
    }
  });

  test('no session bus at all: the fallback is used and nothing throws', async () => {
    const shown: ShownNotification[] = [];
    const fallback = createNotifier({ enabled: true, log: SILENT, backend: async (n) => void shown.push(n) });
    const notifier = createDbusNotifier({ busAddress: 'unix:path=/nonexistent/kairos-no-bus', home: '/nonexistent', control: async () => null, fallback, log: SILENT, callTimeoutMs: 2000 });
    try {
      const r = await notifier.notifyProposal({ approvalId: 'q1', summary: 'x', tokens: { approve: 'a', deny: 'd', show: 's' } });
      assert.equal(r.channel, 'fallback');
      assert.equal(await notifier.capabilities(), null);
      assert.match(shown[0]!.body, /kairos approve q1/);
    } finally {
      await notifier.close();
    }
  });
});

// approvalJson is what the tray and CLI show; the notifier must not need more than it carries.
test('an approval as the daemon lists it has what a notification needs', async () => {
  const control = await startApprovalControl();
  try {
    const { approval } = control.enqueue('s');
    const j = approvalJson(approval);
    for (const k of ['id', 'summary', 'repo', 'files', 'cost_usd', 'expires_at']) assert.ok(k in j, k);
  } finally {
    await control.close();
  }
});
