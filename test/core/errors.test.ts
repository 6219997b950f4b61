import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DaemonStateError,
  describeForUser,
  exitCodeOf,
  InternalError,
  isAbsent,
  isErrno,
  KairosError,
  StoreError,
  UserInputError,
} from '../../src/core/errors.js';
import { UsageError } from '../../src/cli/context.js';
import { DaemonNotRunningError } from '../../src/cli/control-client.js';
import { PolicyError } from '../../src/policy/load.js';
import { StoreDamagedError } from '../../src/store/store-errors.js';
import { LockError } from '../../daemon/lock.js';
import { REPO_ROOT } from '../support/paths.js';

const STACK = /^\s+at .+:\d+:\d+\)?$/m;

describe('the error hierarchy', () => {
  test('no error class in src/ or daemon/ extends Error directly: each extends its kind of KairosError', () => {
    const direct: string[] = [];
    const walk = (dir: string): void => {
      for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, d.name);
        if (d.isDirectory()) walk(p);
        else if (d.name.endsWith('.ts') && p !== path.join(REPO_ROOT, 'src', 'core', 'errors.ts')) {
          for (const m of fs.readFileSync(p, 'utf8').matchAll(/class (\w+) extends Error\b/g)) direct.push(`${path.relative(REPO_ROOT, p)}: ${m[1]}`);
        }
      }
    };
    walk(path.join(REPO_ROOT, 'src'));
    walk(path.join(REPO_ROOT, 'daemon'));
    assert.deepEqual(direct, []);
  });

  test('exit codes come from the kind: 2 bad input, 3 daemon state, 1 the rest and anything foreign', () => {
    assert.equal(exitCodeOf(new UsageError('x')), 2);
    assert.equal(exitCodeOf(new PolicyError('/p.yaml', [{ file: '/p.yaml', field: 'triggers', message: 'bad' }])), 2);
    assert.equal(exitCodeOf(new DaemonNotRunningError('/h')), 3);
    assert.equal(exitCodeOf(new LockError('held', 42)), 3);
    assert.equal(exitCodeOf(new StoreDamagedError('/h/kairos.db', 'file is not a database')), 1);
    assert.ok(new StoreDamagedError('/h/kairos.db', 'x') instanceof StoreError);
    assert.ok(new UsageError('x') instanceof UserInputError && new UsageError('x') instanceof KairosError);
    assert.ok(new LockError('held', null) instanceof DaemonStateError);
    assert.equal(exitCodeOf(new TypeError('bug')), 1);
    assert.equal(exitCodeOf('a string'), 1);
    // The names tests and logs match on are kept.
    assert.equal(new DaemonNotRunningError('/h').name, 'DaemonNotRunningError');
    assert.equal(new UsageError('x').name, 'UsageError');
  });

  test('cause is the standard one, and a wrapper keeps what it wraps', () => {
    const inner = Object.assign(new Error('EACCES: permission denied, open /x'), { code: 'EACCES' });
    const e = new StoreDamagedError('/h/kairos.db', 'file is not a database', { cause: inner });
    assert.equal(e.cause, inner);
    assert.equal(new UsageError('no cause').cause, undefined);
    assert.equal('cause' in new UsageError('no cause'), false, 'no own cause property when none is given (as Error does)');
  });

  test('what a user sees: one line and the hint for a KairosError; the stack for a bug; stacks and causes with KAIROS_DEBUG', () => {
    const e = new UserInputError('--limit -1: expected a whole number >= 1', { hint: 'e.g. --limit 20' });
    assert.equal(describeForUser(e), '--limit -1: expected a whole number >= 1\ne.g. --limit 20');
    assert.equal(describeForUser(new UserInputError('x; fix: do y', { hint: 'do y' })), 'x; fix: do y', 'a hint the message already says is not repeated');
    assert.doesNotMatch(describeForUser(new DaemonNotRunningError('/h')), STACK);
    assert.match(describeForUser(new InternalError('invariant broken')), STACK);
    assert.match(describeForUser(new TypeError('undefined is not a function')), STACK);
    const system = Object.assign(new Error("EACCES: permission denied, open '/x'"), { code: 'EACCES' });
    assert.equal(describeForUser(system), "EACCES: permission denied, open '/x'", 'a system error names the call and path: no stack');
    const wrapped = new KairosError('could not read the price table', { cause: new Error('the disk said no') });
    const debug = describeForUser(wrapped, true);
    assert.match(debug, STACK);
    assert.match(debug, /caused by: Error: the disk said no/);
  });
});

describe('errno checks (real file-system errors)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-errno-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const failure = (fn: () => unknown): unknown => {
    try {
      fn();
    } catch (e) {
      return e;
    }
    assert.fail('expected a failure');
  };

  test('absent is ENOENT or ENOTDIR; a folder read as a file (EISDIR) or a symlink loop (ELOOP) is not absent', () => {
    const missing = failure(() => fs.readFileSync(path.join(dir, 'missing')));
    assert.ok(isAbsent(missing) && isErrno(missing, 'ENOENT'));
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    assert.ok(isAbsent(failure(() => fs.readFileSync(path.join(dir, 'file', 'below')))), 'ENOTDIR: a path through a file');
    const folder = failure(() => fs.readFileSync(dir));
    assert.ok(isErrno(folder, 'EISDIR') && !isAbsent(folder));
    const loop = path.join(dir, 'loop');
    fs.symlinkSync(loop, loop);
    const looped = failure(() => fs.readFileSync(loop));
    assert.ok(isErrno(looped, 'ELOOP') && !isAbsent(looped));
    assert.equal(isErrno({ code: 'ENOENT' }, 'ENOENT'), false, 'only an Error is a system error');
    assert.equal(isErrno(undefined, 'ENOENT'), false);
  });
});
