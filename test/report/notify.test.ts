import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  BODY_MAX,
  createNotifier,
  detectNotifyBackend,
  prepareNotification,
  type NotifyResult,
  type ShownNotification,
} from '../../src/report/notify.js';
import type { LogSink } from '../../src/report/logger.js';
import { tempDir } from '../support/temp.js';

type Entry = { level: string; obj: object; msg?: string };
function recorder(): LogSink & { entries: Entry[] } {
  const entries: Entry[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void entries.push({ level, obj, msg });
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function readRecord(file: string): Array<ShownNotification & NotifyResult & { at: string }> {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

const linux = process.platform === 'linux';
const tmp = tempDir('kairos-notify-');
const fakeBin = path.join(tmp.dir, 'bin');
const emptyBin = path.join(tmp.dir, 'empty');
const argvLog = path.join(tmp.dir, 'notify-send.argv.jsonl');
const originalPath = process.env.PATH;

function calls(): string[][] {
  if (!fs.existsSync(argvLog)) return [];
  return fs.readFileSync(argvLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

before(() => {
  fs.mkdirSync(fakeBin);
  fs.mkdirSync(emptyBin);
  // A stand-in notify-send that records its argv; node-notifier runs it through /bin/sh, as it would the real one.
  // FAKE_NOTIFY_EXIT makes it fail the way notify-send does without a D-Bus session.
  fs.writeFileSync(
    path.join(fakeBin, 'notify-send'),
    `#!${process.execPath}
require('fs').appendFileSync(${JSON.stringify(argvLog)}, JSON.stringify(process.argv.slice(2)) + '\\n');
if (process.env.FAKE_NOTIFY_EXIT) { process.stderr.write('Cannot autolaunch D-Bus\\n'); process.exit(Number(process.env.FAKE_NOTIFY_EXIT)); }
`,
    { mode: 0o755 },
  );
});
after(() => {
  process.env.PATH = originalPath;
  delete process.env.FAKE_NOTIFY_EXIT;
  tmp.cleanup();
});

describe('prepareNotification', () => {
  test('strips escapes, bounds the body with an ellipsis, defaults urgency', () => {
    const raw = '\x1b[31mFAIL\x1b[0m ' + 'x'.repeat(5000) + '\x1b]0;pwned\x07';
    const n = prepareNotification({ title: 'repo:\x1b[1m test\x1b[0m failed\n', body: raw });
    assert.equal(n.title, 'repo: test failed');
    assert.equal(Array.from(n.body).length, BODY_MAX);
    assert.ok(n.body.endsWith('…'));
    assert.ok(n.body.startsWith('FAIL xxx'));
    // oxlint-disable-next-line no-control-regex -- control characters are what must be absent
    assert.ok(!/[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(n.body));
    assert.equal(n.urgency, 'normal');
    assert.deepEqual(n.actions, []);
  });

  test('keeps a short body whole, including its line breaks', () => {
    assert.equal(prepareNotification({ title: 't', body: 'line one\n\n  line two  ' }).body, 'line one\nline two');
  });
});

describe('notifier with node-notifier and notify-send', { skip: !linux && 'notify-send backend is Linux only' }, () => {
  test('title, body and urgency reach notify-send; the record holds what was shown', async () => {
    process.env.PATH = `${fakeBin}${path.delimiter}${originalPath}`;
    const record = path.join(tmp.dir, 'shown', 'notifications.jsonl');
    const log = recorder();
    const notifier = createNotifier({ enabled: true, log, recordFile: record });
    const before = calls().length;

    const long = 'AssertionError: expected 1 to equal 2 ' + '\x1b[2m' + 'y'.repeat(3000);
    const result = await notifier.notify({ title: 'alpha: test failed', body: `npm test failed <in> 4.2 s & more\n${long}`, urgency: 'critical' });
    assert.deepEqual(result, { status: 'shown' });

    const argv = calls().slice(before);
    assert.equal(argv.length, 1);
    const [title, body, ...flags] = argv[0]!;
    assert.equal(title, 'alpha: test failed');
    assert.ok(body!.startsWith('npm test failed &lt;in&gt; 4.2 s &amp; more · AssertionError: expected 1 to equal 2 yyy'), body);
    assert.ok(body!.endsWith('…'));
    assert.ok(body!.length < 260, `body is bounded (${body!.length})`);
    assert.ok(!body!.includes('\x1b'));
    assert.equal(flags[flags.indexOf('--urgency') + 1], 'critical');

    const rec = readRecord(record);
    assert.equal(rec.length, 1);
    assert.equal(rec[0]!.status, 'shown');
    assert.equal(rec[0]!.title, 'alpha: test failed');
    assert.equal(rec[0]!.urgency, 'critical');
    assert.equal(Array.from(rec[0]!.body).length, BODY_MAX);
    assert.equal(log.entries.filter((e) => e.level === 'warn').length, 0);
  });

  test('shell metacharacters in the text arrive literally', async () => {
    process.env.PATH = `${fakeBin}${path.delimiter}${originalPath}`;
    const notifier = createNotifier({ enabled: true, log: recorder() });
    const before = calls().length;
    const result = await notifier.notify({ title: 'x "$(touch pwned)" `id` $HOME', body: "it's \\ done; rm -rf /tmp/nothing" });
    assert.equal(result.status, 'shown');
    const [title, body] = calls().slice(before)[0]!;
    assert.equal(title, 'x "$(touch pwned)" `id` $HOME');
    assert.equal(body, "it's \\ done; rm -rf /tmp/nothing");
    assert.ok(!fs.existsSync(path.join(process.cwd(), 'pwned')));
  });

  test('a notify-send that exits non-zero is reported as failed, and the daemon keeps going', async () => {
    process.env.PATH = `${fakeBin}${path.delimiter}${originalPath}`;
    process.env.FAKE_NOTIFY_EXIT = '1';
    try {
      const log = recorder();
      const notifier = createNotifier({ enabled: true, log });
      const r1 = await notifier.notify({ title: 't', body: 'b' });
      const r2 = await notifier.notify({ title: 't', body: 'b' });
      assert.equal(r1.status, 'failed');
      assert.equal(r2.status, 'failed');
      assert.equal(log.entries.filter((e) => e.level === 'warn').length, 1, 'warned once');
    } finally {
      delete process.env.FAKE_NOTIFY_EXIT;
    }
  });

  test('no notify-send on PATH: unavailable, warned once, still recorded, never throws', async () => {
    process.env.PATH = emptyBin;
    const record = path.join(tmp.dir, 'headless', 'notifications.jsonl');
    const log = recorder();
    const notifier = createNotifier({ enabled: true, log, recordFile: record });
    const before = calls().length;
    const results = [await notifier.notify({ title: 'a', body: 'one' }), await notifier.notify({ title: 'b', body: 'two' })];
    assert.deepEqual(results.map((r) => r.status), ['unavailable', 'unavailable']);
    assert.equal(calls().length, before);
    const warns = log.entries.filter((e) => e.level === 'warn');
    assert.equal(warns.length, 1);
    assert.match(warns[0]!.msg ?? '', /unavailable/);
    assert.deepEqual(readRecord(record).map((r) => [r.title, r.status]), [['a', 'unavailable'], ['b', 'unavailable']]);

    // Installing notify-send later makes it work without a restart.
    process.env.PATH = `${fakeBin}${path.delimiter}${originalPath}`;
    assert.equal((await notifier.notify({ title: 'c', body: 'three' })).status, 'shown');
  });

  test('detectNotifyBackend follows the PATH it is given', () => {
    assert.equal(detectNotifyBackend({ PATH: emptyBin }, 'linux'), null);
    assert.deepEqual(detectNotifyBackend({ PATH: fakeBin }, 'linux'), { name: 'notify-send', path: path.join(fakeBin, 'notify-send') });
  });
});

describe('notifier policy', () => {
  test('disabled: nothing is shown, the record says what would have been', async () => {
    process.env.PATH = `${fakeBin}${path.delimiter}${originalPath}`;
    const home = path.join(tmp.dir, 'home-disabled');
    let called = 0;
    const notifier = createNotifier({ enabled: false, log: recorder(), home, backend: async () => void called++ });
    const before = calls().length;
    const r = await notifier.notify({ title: 'quiet', body: 'hush', actions: ['Approve', 'Deny'] });
    assert.deepEqual(r, { status: 'disabled' });
    assert.equal(called, 0);
    assert.equal(calls().length, before);
    const rec = readRecord(path.join(home, 'notifications.jsonl'));
    assert.equal(rec.length, 1);
    assert.equal(rec[0]!.status, 'disabled');
    assert.deepEqual(rec[0]!.actions, ['Approve', 'Deny']);
  });

  test('a backend that hangs times out instead of hanging the caller', async () => {
    const notifier = createNotifier({ enabled: true, log: recorder(), timeoutMs: 100, backend: () => new Promise(() => {}) });
    const r = await notifier.notify({ title: 't', body: 'b' });
    assert.equal(r.status, 'timeout');
  });

  test('a backend that throws is reported as failed', async () => {
    const notifier = createNotifier({ enabled: true, log: recorder(), backend: async () => { throw new Error('tray gone'); } });
    assert.deepEqual(await notifier.notify({ title: 't', body: 'b' }), { status: 'failed', detail: 'tray gone' });
  });

  test('an injected backend receives the cleaned notification', async () => {
    const got: ShownNotification[] = [];
    const notifier = createNotifier({ enabled: true, log: recorder(), backend: async (n) => void got.push(n) });
    await notifier.notify({ title: 'T', body: '\x1b[32mok\x1b[0m', urgency: 'low', actions: ['Open'] });
    assert.deepEqual(got, [{ title: 'T', body: 'ok', urgency: 'low', actions: ['Open'] }]);
  });

  test('an unwritable record file is logged, not thrown', async () => {
    const blocker = path.join(tmp.dir, 'not-a-dir');
    fs.writeFileSync(blocker, '');
    const log = recorder();
    const notifier = createNotifier({ enabled: false, log, recordFile: path.join(blocker, 'n.jsonl') });
    assert.equal((await notifier.notify({ title: 't', body: 'b' })).status, 'disabled');
    assert.equal(log.entries.filter((e) => e.level === 'warn').length, 1);
  });
});
