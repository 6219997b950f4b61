import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { kairos, makeHome, spawnDaemon, type DaemonProcess } from '../support/kairos.js';
import { makeRepo, type TestRepo } from '../support/git-repo.js';
import { callDaemon } from '../../src/cli/control-client.js';
import { socketPath, type DaemonRefusal } from '../../src/cli/protocol.js';
import { DaemonStateError, KairosError, RefusedError, UserInputError } from '../../src/core/errors.js';

/**
 * A refusal keeps its kind over the control socket (issue 14): the daemon sends the kind, exit code and
 * hint of the error its handler threw, and the CLI rebuilds that KairosError subclass, so `kairos` exits
 * as it would had it refused itself. Against the real daemon, then the client alone against hostile replies.
 */

const POLICY = `
triggers:
  - name: hello
    on: { manual: true }
    run: echo hello
    notify: never
`;

const rejectsWith = async (p: Promise<unknown>, check: (e: DaemonRefusal) => void): Promise<void> => {
  await assert.rejects(p, (e: unknown) => {
    check(e as DaemonRefusal);
    return true;
  });
};

describe('refusals over the control socket, against a running daemon', () => {
  let h: ReturnType<typeof makeHome>;
  let repo: TestRepo;
  let unwatched: TestRepo;
  let d: DaemonProcess;

  before(async () => {
    h = makeHome(POLICY);
    repo = makeRepo();
    unwatched = makeRepo();
    d = await spawnDaemon([repo.dir], h.env);
  });

  after(async () => {
    d?.kill('SIGTERM');
    await d?.exited;
    repo?.cleanup();
    unwatched?.cleanup();
    h?.cleanup();
  });

  test('bad input the daemon refuses: kairos exits 2 and prints the hint on its own line', () => {
    const r = kairos(['poke', '--trigger', 'nope'], h.env);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, "kairos: no trigger 'nope' in the policy of any watched repository; known triggers: hello\n'kairos status' lists each repository's triggers\n");
  });

  test('a daemon-state refusal (a repository it does not watch): kairos exits 3 with the hint', () => {
    const r = kairos(['poke', '--repo', unwatched.dir], h.env);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stderr, `kairos: ${unwatched.dir} is not watched\nadd it with 'kairos start --repo ${unwatched.dir}'\n`);
  });

  test('callDaemon rebuilds the subclass of the kind, with the code and hint; bad params are bad input', async () => {
    await rejectsWith(callDaemon(h.home, 'poke', { trigger: 'nope' }), (e) => {
      assert.ok(e instanceof UserInputError, e.name);
      assert.equal(e.exitCode, 2);
      assert.equal(e.code, 'bad_params');
      assert.equal(e.hint, "'kairos status' lists each repository's triggers");
    });
    await rejectsWith(callDaemon(h.home, 'poke', { repo: unwatched.dir }), (e) => {
      assert.ok(e instanceof DaemonStateError, e.name);
      assert.equal(e.exitCode, 3);
      assert.equal(e.code, 'not_found');
    });
    // A parameter of the wrong type, refused by the handler before anything runs.
    await rejectsWith(callDaemon(h.home, 'poke', { note: 5 }), (e) => {
      assert.ok(e instanceof UserInputError, e.name);
      assert.equal(e.code, 'bad_params');
      assert.match(e.message, /parameter 'note' must be a string/);
    });
    // A refusal of another kind stays that kind: an approval that does not exist is refused (1), not bad input.
    await rejectsWith(callDaemon(h.home, 'approvals.approve', { id: 'p-does-not-exist', channel: 'cli' }), (e) => {
      assert.ok(e instanceof RefusedError, `${e.name}: ${e.message}`);
      assert.equal(e.exitCode, 1);
      assert.equal(e.code, 'not_found');
    });
  });
});

describe('the client reads an error reply as another process\'s data', () => {
  let dir: string;
  let server: net.Server;
  let reply: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-reply-'));
    server = net.createServer((sock) => {
      sock.setEncoding('utf8');
      sock.once('data', () => sock.end(reply + '\n'));
    });
    await new Promise<void>((r) => server.listen(socketPath(dir), r));
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const answer = (error: unknown): Promise<unknown> => {
    reply = JSON.stringify({ id: 1, error });
    return callDaemon(dir, 'status', {}, 10_000);
  };

  test('a kind, exit code or hint it cannot use is dropped, never trusted; the exit code decides without a kind', async () => {
    await rejectsWith(answer({ message: 'm', code: 'x', kind: 'root_shell', exitCode: 'rm -rf', hint: { a: 1 } }), (e) => {
      assert.equal(e.constructor, KairosError);
      assert.equal(e.exitCode, 1);
      assert.equal(e.hint, undefined);
      assert.equal(e.code, 'x');
    });
    await rejectsWith(answer({ message: 'm', code: 'x', exitCode: 3 }), (e) => assert.ok(e instanceof DaemonStateError));
    await rejectsWith(answer({ message: 'm', exitCode: 999 }), (e) => assert.equal(e.exitCode, 1));
    // An older daemon: message and code only; 'bad_params' is bad input.
    await rejectsWith(answer({ message: 'm', code: 'bad_params' }), (e) => assert.ok(e instanceof UserInputError));
  });

  test('an error reply without a message is a malformed answer', async () => {
    await rejectsWith(answer({ code: 'x', kind: 'user_input' }), (e) => {
      assert.equal(e.code, 'bad_response');
      assert.equal(e.exitCode, 1);
    });
  });
});
