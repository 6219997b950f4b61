import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APIConnectionError, APIError } from '@anthropic-ai/sdk';
import { backoffDelayMs, classifyError, parseRetryAfter, RETRY_POLICIES, runWithRecovery, type Admission } from '../../src/model/recovery.js';
import { ManualClock } from './manual-clock.js';

const h = (o: Record<string, string>) => new Headers(o);

test('retry-after is read as seconds, as an HTTP date, and as retry-after-ms', () => {
  const now = Date.UTC(2026, 10, 24, 10, 0, 0);
  assert.equal(parseRetryAfter(h({ 'retry-after': '7' }), now), 7000);
  assert.equal(parseRetryAfter(h({ 'retry-after': '1.5' }), now), 1500);
  assert.equal(parseRetryAfter(h({ 'retry-after': new Date(now + 30_000).toUTCString() }), now), 30_000);
  assert.equal(parseRetryAfter(h({ 'retry-after': new Date(now - 30_000).toUTCString() }), now), 0);
  assert.equal(parseRetryAfter(h({ 'retry-after-ms': '250', 'retry-after': '9' }), now), 250);
  assert.equal(parseRetryAfter(h({ 'retry-after': 'soon' }), now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test('errors are classified for retry and for billing', () => {
  const e = (status: number, headers: Record<string, string> = {}) => APIError.generate(status, { error: { message: 'x' } }, 'x', h(headers));
  assert.deepEqual(
    [429, 529, 500, 400].map((s) => [classifyError(e(s), 0).kind, classifyError(e(s), 0).retryable, classifyError(e(s), 0).billed]),
    [
      ['rate_limit', true, 'no'],
      ['overloaded', true, 'no'],
      ['server', true, 'no'],
      ['client', false, 'no'],
    ],
  );
  assert.equal(classifyError(e(500, { 'x-should-retry': 'false' }), 0).retryable, false);
  assert.equal(classifyError(e(400, { 'x-should-retry': 'true' }), 0).retryable, true);
  assert.deepEqual(classifyError(new APIConnectionError({ cause: new Error('socket hang up') }), 0).billed, 'unknown');
  assert.deepEqual(classifyError(new SyntaxError('Unexpected end of JSON input'), 0).kind, 'malformed');
});

test('backoff grows, is jittered, is harder for ambient overload, and never undercuts retry-after', () => {
  const overloaded = { kind: 'overloaded' as const, retryable: true, billed: 'no' as const, message: '' };
  const server = { ...overloaded, kind: 'server' as const };
  const user = RETRY_POLICIES.user;
  const ambient = RETRY_POLICIES.ambient;
  assert.equal(backoffDelayMs(user, 0, server, () => 0), 250);
  assert.equal(backoffDelayMs(user, 0, server, () => 1), 500);
  assert.equal(backoffDelayMs(user, 2, server, () => 1), 2000);
  assert.equal(backoffDelayMs(user, 10, server, () => 1), user.maxDelayMs);
  assert.ok(backoffDelayMs(ambient, 0, overloaded, () => 0) >= 4 * backoffDelayMs(user, 0, overloaded, () => 1));
  assert.equal(backoffDelayMs(user, 0, { ...server, retryAfterMs: 9000 }, () => 1), 9000);
});

test('each attempt is reserved; a refused retry steps down; an empty ladder is the no-model outcome', async () => {
  const clock = new ManualClock();
  const log: string[] = [];
  let budget = 3; // attempts the "ledger" will admit
  const reserve = async (model: string): Promise<Admission> => {
    log.push(`reserve ${model}`);
    return budget-- > 0 ? { ok: true, id: log.length, reservedMicro: 10 } : { ok: false, reason: 'day cap', leftMicro: 4 };
  };
  let sends = 0;
  const out = await runWithRecovery(
    ['big', 'small'],
    'user',
    {
      reserve,
      send: async (model) => {
        sends++;
        if (model === 'big') throw APIError.generate(500, { error: { message: 'boom' } }, 'boom', h({}));
        return 'answer';
      },
      settle: () => 7,
      release: () => log.push('release'),
      chargeUnknown: () => 10,
    },
    { clock: clock.now, sleep: clock.sleep, random: () => 0.5 },
  );
  assert.equal(out.status, 'no-model');
  assert.equal(sends, 3);
  assert.deepEqual(log, ['reserve big', 'release', 'reserve big', 'release', 'reserve big', 'release', 'reserve big', 'reserve small']);
  assert.deepEqual(out.steps.map((s) => [s.fromModel, s.toModel]), [['big', 'small'], ['small', null]]);
  assert.match(out.steps[0]!.reason, /a retry of big does not fit the budget: day cap/);
  assert.equal(clock.sleeps.length, 3);
});
