import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { checkGate, gateLayer, quietUntil, type GateConfig, type GateState } from '../../src/policy/gate.js';
import { makeContext } from './policy-context.js';

// Local times, so quiet hours are tested the way users write them.
const at = (hhmm: string, day = 2): Date => new Date(2026, 2, day, Number(hhmm.slice(0, 2)), Number(hhmm.slice(3, 5)));
const idle: GateState = { recentStarts: [], paused: false };
const cfg = (c: Partial<GateConfig>): GateConfig => ({ triggers: {}, ...c });

describe('gate', () => {
  test('nothing configured: allow', () => assert.equal(checkGate('t', cfg({}), idle, at('12:00')).decision, 'allow'));

  test('pause all denies every kind of step from the daemon, but not the user', () => {
    const ctx = makeContext({ gate: { config: cfg({}), state: { ...idle, paused: true } } });
    for (const action of [{ type: 'task' as const, kind: 'command' as const }, { type: 'tool' as const, call: { tool: 'Read' as const, path: 'a' } }]) {
      assert.equal(gateLayer({ repo: '/r', origin: 'agent', action }, ctx).decision, 'deny');
    }
    assert.equal(gateLayer({ repo: '/r', origin: 'user', action: { type: 'task', kind: 'command' } }, ctx).decision, 'allow');
  });

  test('quiet hours that wrap midnight', () => {
    const q = { start: '22:00', end: '07:00' };
    assert.equal(quietUntil(at('21:59'), q), undefined);
    assert.deepEqual(quietUntil(at('22:00'), q), at('07:00', 3));
    assert.deepEqual(quietUntil(at('03:30'), q), at('07:00'));
    assert.equal(quietUntil(at('07:00'), q), undefined);
    const v = checkGate('t', cfg({ quietHours: q }), idle, at('23:15'));
    assert.equal(v.decision, 'deny');
    assert.equal(v.decision === 'deny' && v.retryAt, at('07:00', 3).toISOString());
  });

  test('quiet hours within a day', () => {
    const q = { start: '12:00', end: '13:30' };
    assert.deepEqual(quietUntil(at('12:45'), q), at('13:30'));
    assert.equal(quietUntil(at('13:30'), q), undefined);
    assert.equal(quietUntil(at('11:59'), q), undefined);
  });

  test('backs off while the user is editing, until the back-off has passed', () => {
    const c = cfg({ editBackoffMs: 30_000 });
    const now = at('12:00');
    assert.equal(checkGate('t', c, { ...idle, lastUserEditAt: new Date(now.getTime() - 10_000) }, now).decision, 'deny');
    assert.equal(checkGate('t', c, { ...idle, lastUserEditAt: new Date(now.getTime() - 30_000) }, now).decision, 'allow');
  });

  test('per-trigger cool-down', () => {
    const c = cfg({ triggers: { lint: { cooldownMs: 5 * 60_000 } } });
    const now = at('12:00');
    const state: GateState = { ...idle, recentStarts: [{ trigger: 'lint', at: new Date(now.getTime() - 60_000) }] };
    const v = checkGate('lint', c, state, now);
    assert.equal(v.decision, 'deny');
    assert.equal(v.decision === 'deny' && v.retryAt, new Date(now.getTime() + 4 * 60_000).toISOString());
    assert.equal(checkGate('other', c, state, now).decision, 'allow');
    assert.equal(checkGate('lint', c, state, new Date(now.getTime() + 4 * 60_000)).decision, 'allow');
  });

  test('per-trigger rate limit and global actions per hour, over a rolling hour', () => {
    const now = at('12:00');
    const starts = [50, 40, 30].map((m) => ({ trigger: 'test', at: new Date(now.getTime() - m * 60_000) }));
    const state: GateState = { ...idle, recentStarts: [...starts, { trigger: 'old', at: new Date(now.getTime() - 61 * 60_000) }] };
    assert.equal(checkGate('test', cfg({ triggers: { test: { maxPerHour: 3 } } }), state, now).decision, 'deny');
    assert.equal(checkGate('test', cfg({ triggers: { test: { maxPerHour: 4 } } }), state, now).decision, 'allow');
    const g = checkGate('x', cfg({ maxActionsPerHour: 3 }), state, now);
    assert.equal(g.decision, 'deny');
    assert.equal(g.decision === 'deny' && g.retryAt, new Date(now.getTime() + 10 * 60_000).toISOString());
    assert.equal(checkGate('x', cfg({ maxActionsPerHour: 4 }), state, now).decision, 'allow');
  });
});
