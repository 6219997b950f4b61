import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createNotifier, type NotifyResult, type ShownNotification } from '../../src/report/notify.js';
import { BatchingNotifier } from '../../src/report/notify-batch.js';
import type { PresenceMode } from '../../src/pipeline/presence.js';
import type { LogSink } from '../../src/report/logger.js';
import { kairos, scenario, waitFor, withDaemon } from '../support/kairos.js';
import { tempDir } from '../support/temp.js';

const quiet: LogSink = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const tmp = tempDir('kairos-notify-batch-');
after(() => tmp.cleanup());

function readRecord(file: string): Array<ShownNotification & NotifyResult> {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

describe('presence.batch_every gathers non-urgent notifications', () => {
  test('several non-urgent notifications in one interval are shown and recorded as one; critical ones at once', async () => {
    const file = path.join(tmp.dir, 'a.jsonl');
    const shown: ShownNotification[] = [];
    const inner = createNotifier({ enabled: true, log: quiet, recordFile: file, backend: async (n) => void shown.push(n) });
    let mode: PresenceMode = 'active';
    const b = new BatchingNotifier({ inner, batchEveryMs: () => 400, mode: () => mode });
    const started = Date.now();
    for (const [title, urgency] of [['lint passed', 'low'], ['tests failed', 'normal'], ['docs built', 'low']] as const) {
      assert.equal((await b.notify({ title, body: `${title} in repo`, urgency })).status, 'held');
    }
    assert.equal((await b.notify({ title: 'budget used up', body: 'model steps pause', urgency: 'critical' })).status, 'shown');
    assert.deepEqual(readRecord(file).map((r) => r.title), ['budget used up'], 'only the critical one so far');
    await waitFor(() => readRecord(file).length === 2, { what: 'the batch', timeoutMs: 10_000, intervalMs: 20 });
    assert.ok(Date.now() - started >= 400, 'not before the interval');
    const batch = readRecord(file)[1]!;
    assert.equal(batch.title, 'Kairos: 3 updates');
    assert.equal(batch.body, 'lint passed: lint passed in repo\ntests failed: tests failed in repo\ndocs built: docs built in repo');
    assert.equal(shown.length, 2);
    assert.equal(b.pending(), 0);

    // Away: nothing is held. Stepping away flushes what was held.
    mode = 'away';
    assert.equal((await b.notify({ title: 'x', body: 'y', urgency: 'low' })).status, 'shown');
    mode = 'active';
    await b.notify({ title: 'held one', body: 'z', urgency: 'low' });
    assert.equal(b.flush(), 1);
    await b.settled();
    assert.equal(readRecord(file).at(-1)!.title, 'held one', 'a batch of one is shown as itself');
  });

  test('without batch_every, and for notifications with actions, nothing is held', async () => {
    const file = path.join(tmp.dir, 'b.jsonl');
    const inner = createNotifier({ enabled: true, log: quiet, recordFile: file, backend: async () => undefined });
    const b = new BatchingNotifier({ inner, batchEveryMs: () => undefined, mode: () => 'active' });
    assert.equal((await b.notify({ title: 'a', body: 'b', urgency: 'low' })).status, 'shown');
    const c = new BatchingNotifier({ inner, batchEveryMs: () => 60_000, mode: () => 'active' });
    assert.equal((await c.notify({ title: 'approve?', body: 'b', urgency: 'low', actions: ['Approve'] })).status, 'shown');
    assert.equal(readRecord(file).length, 2);
  });

  test('the daemon: two task notifications from one save while you edit become one notification', async () => {
    const policy = [
      'presence: { away_after: 10m, batch_every: 10s }',
      'triggers:',
      '  - { name: lint, on: { fs: ["src/**"] }, run: "true", notify: always, settle_ms: 300 }',
      '  - { name: unit, on: { fs: ["src/**"] }, run: "true", notify: always, settle_ms: 300 }',
      '',
    ].join('\n');
    await scenario(policy, async ({ h, repo }) => {
      const record = path.join(h.home, 'notifications.jsonl');
      await withDaemon([repo.dir], h.env, async () => {
        // One save, made atomic (written aside, renamed in) so the watcher sees exactly one event
        // for src/a.ts: a plain write can surface as an add and a later change on a loaded machine,
        // two batches per trigger, which is not what this test is about.
        fs.mkdirSync(path.join(repo.dir, 'src'), { recursive: true });
        fs.writeFileSync(path.join(repo.dir, 'a.ts.tmp'), 'export const a = 1;\n');
        fs.renameSync(path.join(repo.dir, 'a.ts.tmp'), path.join(repo.dir, 'src', 'a.ts'));
        const shown = await waitFor(() => readRecord(record).find((r) => /updates/.test(r.title)), { what: 'one batched notification', timeoutMs: 30_000 });
        // Each trigger notifies once per run; how many runs one save makes depends on how the
        // watcher splits it (seen: 2 or 4). The point is that they all arrive as ONE notification.
        assert.match(shown.title, /^Kairos: ([2-9]|\d\d+) updates$/);
        assert.match(shown.body, /lint passed/);
        assert.match(shown.body, /unit passed/);
        assert.equal(readRecord(record).length, 1, 'one notification for both tasks');
        assert.equal(kairos(['status'], h.env).code, 0);
      });
    });
  });
});
