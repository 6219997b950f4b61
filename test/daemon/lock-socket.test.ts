import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startControlServer } from '../../daemon/control-server.js';
import { OwnerOnlyError } from '../../daemon/approval-handlers.js';
import { currentHolder, lockPath } from '../../daemon/lock.js';
import { callDaemon } from '../../src/cli/control-client.js';
import { socketPath } from '../../src/cli/protocol.js';
import { isAlive } from '../../src/cli/process-alive.js';
import { kairos, makeHome, spawnDaemon } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';

test('the control socket is owner-only from the moment it is bound, whatever the umask', async () => {
  const h = makeHome();
  fs.chmodSync(h.home, 0o755); // a home left open: it is closed before anything is bound
  const before = process.umask(0); // the most permissive umask a daemon could start with
  let seen: { dirMode: number; sockMode: number; atFinalPath: boolean; dir: string } | undefined;
  try {
    const server = await startControlServer(h.home, { ping: () => 'pong' }, {
      onBound: (file) => {
        const dir = path.dirname(file);
        seen = { dirMode: fs.statSync(dir).mode & 0o777, sockMode: fs.lstatSync(file).mode & 0o777, atFinalPath: file === socketPath(h.home), dir };
        // Nothing is listening at the path clients use yet.
        assert.equal(fs.existsSync(socketPath(h.home)), false);
      },
    });
    try {
      assert.ok(seen, 'onBound was called');
      assert.equal(seen.dirMode, 0o700, 'bound inside a folder only its owner can enter');
      assert.equal(seen.sockMode & 0o077, 0, `the socket was born ${seen.sockMode.toString(8)}`);
      assert.equal(seen.atFinalPath, false);
      assert.equal(fs.existsSync(seen.dir), false, 'the private folder is removed once the socket is in place');
      assert.equal(fs.statSync(h.home).mode & 0o777, 0o700);
      assert.equal(fs.lstatSync(socketPath(h.home)).mode & 0o777, 0o600);
      assert.equal(await callDaemon(h.home, 'ping'), 'pong');
    } finally {
      await server.close();
    }
  } finally {
    process.umask(before);
    h.cleanup();
  }
});

test('a home owned by another user is refused before any socket is bound', { skip: process.getuid?.() !== 0 && 'needs root to give a folder to another uid' }, async () => {
  const h = makeHome();
  try {
    fs.chownSync(h.home, 65534, 65534);
    let bound = false;
    await assert.rejects(startControlServer(h.home, {}, { onBound: () => (bound = true) }), (e: Error) => e instanceof OwnerOnlyError && /belongs to uid 65534/.test(e.message));
    assert.equal(bound, false);
    assert.equal(fs.existsSync(socketPath(h.home)), false);
  } finally {
    h.cleanup();
  }
});

test("a stale lock whose pid now belongs to another process neither blocks a start nor gets that process signalled", { timeout: 120_000 }, async () => {
  const h = makeHome('triggers: []\n');
  const repo = makeRepo();
  const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
  const sleepPid = sleeper.pid!;
  try {
    // The pid a daemon recorded before it was SIGKILLed, now reused by `sleep`: as written by this
    // version (with the daemon's start time, which the sleep's is not) ...
    const dead = { ...currentHolder(sleepPid), start: String(Number(currentHolder(sleepPid).start ?? 0) - 1000), exe: process.execPath, cmdline: 'node main.js run' };
    fs.writeFileSync(lockPath(h.home), `${sleepPid}\n${JSON.stringify(dead)}\n`, { mode: 0o600 });
    const d = await spawnDaemon([repo.dir], h.env);
    assert.equal(fs.readFileSync(lockPath(h.home), 'utf8').split('\n')[0], String(d.pid), 'the daemon took the lock over');
    const stop = kairos(['stop'], h.env);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, new RegExp(`daemon \\(pid ${d.pid}\\) stopped`));
    await d.exited;
    assert.ok(isAlive(sleepPid), 'kairos stop signalled the process that reused the pid');

    // ... and as an older version wrote it (the pid alone): the sleep does not look like a daemon.
    fs.writeFileSync(lockPath(h.home), `${sleepPid}\n`, { mode: 0o600 });
    const d2 = await spawnDaemon([repo.dir], h.env);
    assert.equal(kairos(['stop'], h.env).code, 0);
    await d2.exited;
    assert.ok(isAlive(sleepPid));

    // With no daemon running and the stale lock back, stop says so and touches nothing.
    fs.writeFileSync(lockPath(h.home), `${sleepPid}\n${JSON.stringify(dead)}\n`, { mode: 0o600 });
    const idle = kairos(['stop'], h.env);
    assert.equal(idle.code, 0);
    assert.match(idle.stdout, /no daemon running/);
    assert.ok(isAlive(sleepPid));

    // The check is an identity, not a blanket take-over: a lock naming the sleep exactly as it is
    // (its real start time and executable) is a live holder, and a start is refused.
    fs.writeFileSync(lockPath(h.home), `${sleepPid}\n${JSON.stringify(currentHolder(sleepPid))}\n`, { mode: 0o600 });
    const refused = kairos(['run', '--repo', repo.dir], h.env);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, new RegExp(`another Kairos daemon \\(pid ${sleepPid}\\) already runs`));
    assert.ok(isAlive(sleepPid));
  } finally {
    sleeper.kill('SIGKILL');
    repo.cleanup();
    h.cleanup();
  }
});
