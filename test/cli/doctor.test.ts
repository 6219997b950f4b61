import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DoctorCheck, compareVersions, formatDoctor, runDoctor } from '../../src/cli/doctor.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-doctor-');
const home = path.join(tmp.dir, 'home');
const emptyBin = path.join(tmp.dir, 'empty-bin');
const fakeBin = path.join(tmp.dir, 'fake-bin');
const baseEnv: NodeJS.ProcessEnv = { ...process.env };
delete baseEnv.ANTHROPIC_API_KEY;
delete baseEnv.KAIROS_NOTIFY;
// Not `auto`: on a machine with watchman installed it would start the user's Watchman server.
baseEnv.KAIROS_WATCHER = 'native';

function byName(checks: DoctorCheck[], name: string): DoctorCheck {
  const c = checks.find((x) => x.name === name);
  assert.ok(c, `check '${name}' present`);
  return c;
}

function fakeProc(watches: number, instances: number): string {
  const dir = path.join(tmp.dir, `proc-${watches}-${instances}`);
  fs.mkdirSync(path.join(dir, 'sys/fs/inotify'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'sys/fs/inotify/max_user_watches'), `${watches}\n`);
  fs.writeFileSync(path.join(dir, 'sys/fs/inotify/max_user_instances'), `${instances}\n`);
  return dir;
}

before(() => {
  fs.mkdirSync(emptyBin);
  fs.mkdirSync(fakeBin);
  fs.writeFileSync(path.join(fakeBin, 'notify-send'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  fs.writeFileSync(path.join(fakeBin, 'git'), '#!/bin/sh\necho "git version 2.1.0"\n', { mode: 0o755 });
  fs.writeFileSync(path.join(fakeBin, 'bwrap'), '#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n', { mode: 0o755 });
});
after(() => tmp.cleanup());

describe('runDoctor on this machine', () => {
  let checks: DoctorCheck[];
  before(async () => {
    checks = await runDoctor({ home, env: baseEnv });
  });

  test('every check is present, well-formed and in a fixed order', () => {
    assert.deepEqual(checks.map((c) => c.name), ['node', 'sqlite', 'git', 'inotify', 'watcher', 'notifications', 'speech', 'sandbox', 'shell-grammar', 'api-key', 'audit']);
    for (const c of checks) {
      assert.ok(DoctorCheck.safeParse(c).success, JSON.stringify(c));
      assert.ok(c.detail.length > 0);
      if (c.status !== 'ok' && c.name !== 'sandbox' && c.name !== 'notifications') assert.ok(c.fix, `${c.name} has a fix`);
    }
  });

  test('the running node passes; SQLite opens a WAL database in home and leaves nothing behind', () => {
    assert.equal(byName(checks, 'node').status, 'ok');
    assert.equal(byName(checks, 'node').detail, `v${process.versions.node}`);
    const sqlite = byName(checks, 'sqlite');
    assert.equal(sqlite.status, 'ok', sqlite.detail);
    assert.match(sqlite.detail, /WAL/);
    assert.deepEqual(fs.readdirSync(home), []);
  });

  test('git is found with its version', () => {
    const git = byName(checks, 'git');
    assert.equal(git.status, 'ok', git.detail);
    assert.match(git.detail, /^git \d+\.\d+/);
  });

  test('sandbox reports whether bwrap really works and the limits backend, with the fallback stated when not', () => {
    const s = byName(checks, 'sandbox');
    if (/bubblewrap works/.test(s.detail)) {
      // A working box whose limits are weak (none, or prlimit as root) is a warning with a fix.
      assert.match(s.detail, /; limits: (cgroup2|cgroup1|systemd-run|prlimit|none) — /);
      if (s.status !== 'ok') assert.ok(s.fix, s.detail);
    } else assert.match(s.detail, /commands that would be sandboxed will need approval/);
  });

  test('formatDoctor prints one line per check and a summary', () => {
    const text = formatDoctor(checks);
    for (const c of checks) assert.match(text, new RegExp(`\\b${c.name}\\b.*${c.detail.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(text, /\d+ ok, \d+ warnings?, \d+ failed$/);
    const withFix = checks.filter((c) => c.fix && c.status !== 'ok');
    assert.equal((text.match(/fix: /g) ?? []).length, withFix.length);
  });
});

describe('runDoctor reacts to its environment', () => {
  test('the API key check flips with env', async () => {
    const off = byName(await runDoctor({ home, env: baseEnv }), 'api-key');
    assert.equal(off.status, 'warn');
    assert.match(off.detail, /model steps are off; rules and commands still run/);
    const on = byName(await runDoctor({ home, env: { ...baseEnv, ANTHROPIC_API_KEY: 'sk-ant-test' } }), 'api-key');
    assert.equal(on.status, 'ok');
    assert.ok(!on.detail.includes('sk-ant-test'), 'the key itself is never printed');
  });

  test('programs are looked up on the PATH it is given', async () => {
    const missing = await runDoctor({ home, env: { ...baseEnv, PATH: emptyBin }, platform: 'linux' });
    assert.equal(byName(missing, 'git').status, 'fail');
    assert.equal(byName(missing, 'notifications').status, 'warn');
    assert.match(byName(missing, 'notifications').fix ?? '', /notify-send/);
    const sandbox = byName(missing, 'sandbox');
    assert.equal(sandbox.status, 'warn');
    assert.match(sandbox.detail, /not installed; commands that would be sandboxed will need approval/);

    const fakes = await runDoctor({ home, env: { ...baseEnv, PATH: fakeBin, DISPLAY: ':0' }, platform: 'linux' });
    assert.equal(byName(fakes, 'notifications').status, 'ok');
    assert.equal(byName(fakes, 'git').status, 'warn', 'old git is a warning');
    const broken = byName(fakes, 'sandbox');
    assert.equal(broken.status, 'warn');
    assert.match(broken.detail, /cannot create a sandbox \(bwrap: No permissions/);
  });

  test('notify-send without any desktop session is a warning; KAIROS_NOTIFY=off is fine', async () => {
    const env: NodeJS.ProcessEnv = { ...baseEnv, PATH: fakeBin };
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    delete env.DBUS_SESSION_BUS_ADDRESS;
    assert.equal(byName(await runDoctor({ home, env, platform: 'linux' }), 'notifications').status, 'warn');
    const off = byName(await runDoctor({ home, env: { ...env, KAIROS_NOTIFY: 'off' }, platform: 'linux' }), 'notifications');
    assert.equal(off.status, 'ok');
    assert.match(off.detail, /KAIROS_NOTIFY=off/);
  });

  test("speech follows the user's policy: off by default, a warning with the apt fix when on and nothing can speak", async () => {
    const off = byName(await runDoctor({ home, env: { ...baseEnv, PATH: emptyBin }, platform: 'linux' }), 'speech');
    assert.equal(off.status, 'ok');
    assert.match(off.detail, /^off /);
    const speaking = path.join(tmp.dir, 'speaking-home');
    fs.mkdirSync(speaking);
    fs.writeFileSync(path.join(speaking, 'policy.yaml'), 'notify: { speak: true }\n');
    const missing = byName(await runDoctor({ home: speaking, env: { ...baseEnv, PATH: emptyBin }, platform: 'linux' }), 'speech');
    assert.equal(missing.status, 'warn');
    assert.match(missing.detail, /neither spd-say nor espeak-ng/);
    assert.match(missing.fix ?? '', /sudo apt install speech-dispatcher/);
    fs.writeFileSync(path.join(speaking, 'policy.yaml'), 'notify: { speak: yes please }\n');
    const broken = byName(await runDoctor({ home: speaking, env: baseEnv, platform: 'linux' }), 'speech');
    assert.equal(broken.status, 'warn');
    assert.match(broken.fix ?? '', /kairos policy check/);
  });

  test('low inotify limits warn with the sysctl fix', async () => {
    const low = byName(await runDoctor({ home, env: baseEnv, platform: 'linux', procDir: fakeProc(8192, 128) }), 'inotify');
    assert.equal(low.status, 'warn');
    assert.match(low.detail, /max_user_watches 8192/);
    assert.match(low.fix ?? '', /fs\.inotify\.max_user_watches=524288/);
    assert.match(low.fix ?? '', /sysctl/);
    const fine = byName(await runDoctor({ home, env: baseEnv, platform: 'linux', procDir: fakeProc(524288, 512) }), 'inotify');
    assert.equal(fine.status, 'ok');
    const unreadable = byName(await runDoctor({ home, env: baseEnv, platform: 'linux', procDir: emptyBin }), 'inotify');
    assert.equal(unreadable.status, 'warn');
  });

  test('the inotify line names the limit that is low (and only that one), its floor, and a fix for just it', async () => {
    const dir = path.join(tmp.dir, 'proc-queue-low');
    fs.mkdirSync(path.join(dir, 'sys/fs/inotify'), { recursive: true });
    for (const [k, v] of [['max_user_watches', 1048576], ['max_user_instances', 1024], ['max_queued_events', 16384]] as const) {
      fs.writeFileSync(path.join(dir, 'sys/fs/inotify', k), `${v}\n`);
    }
    const c = byName(await runDoctor({ home, env: baseEnv, platform: 'linux', procDir: dir }), 'inotify');
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /^max_queued_events 16384 is below 65536 \(/, c.detail);
    assert.doesNotMatch(c.detail, /max_user_watches \d+ is below|max_user_instances \d+ is below/);
    assert.match(c.fix ?? '', /fs\.inotify\.max_queued_events=524288/);
    assert.doesNotMatch(c.fix ?? '', /max_user_watches|max_user_instances/, 'the fix changes only the low limit');

    const two = byName(await runDoctor({ home, env: baseEnv, platform: 'linux', procDir: fakeProc(8192, 64) }), 'inotify');
    assert.match(two.detail, /max_user_watches 8192 is below 65536 .*; max_user_instances 64 is below 128 /, two.detail);
    assert.match(formatDoctor([two]), /WARN {2}inotify +max_user_watches 8192 is below 65536/);
  });

  test('an old node fails; macOS needs no inotify and has no sandbox', async () => {
    const checks = await runDoctor({ home, env: baseEnv, nodeVersion: '20.11.1', platform: 'darwin' });
    const node = byName(checks, 'node');
    assert.equal(node.status, 'fail');
    assert.match(node.fix ?? '', /20\.19/);
    assert.equal(byName(checks, 'inotify').status, 'ok');
    assert.match(byName(checks, 'sandbox').detail, /need approval/);
  });

  test('an unwritable home fails the SQLite check', async () => {
    const file = path.join(tmp.dir, 'a-file');
    fs.writeFileSync(file, '');
    const s = byName(await runDoctor({ home: path.join(file, 'home'), env: baseEnv }), 'sqlite');
    assert.equal(s.status, 'fail');
    assert.ok(s.fix);
  });

  test('compareVersions', () => {
    assert.ok(compareVersions('20.19.0', '20.19.0') === 0);
    assert.ok(compareVersions('v20.20.2', '20.19.0') > 0);
    assert.ok(compareVersions('20.9.0', '20.19.0') < 0);
    assert.ok(compareVersions('22.0', '20.19.0') > 0);
  });
});
