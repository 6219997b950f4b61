// Shared by the policy tests: a context with real compiled rules, and trust/spend layers that
// allow (those layers belong to other modules and have their own tests).
import { ALLOW, type Verdict } from '../../src/policy/decision.js';
import type { LayerContext, LayerDeps } from '../../src/policy/layers.js';
import { compileRules } from '../../src/policy/permission.js';
import type { SandboxStatus } from '../../src/policy/sandbox.js';

export const WORKING_SANDBOX: SandboxStatus = { backend: 'bwrap', available: true, detail: 'test: assume a sandbox', executable: '/usr/bin/bwrap' };

export function makeContext(over: Partial<LayerContext> & { permissions?: { allow?: string[]; ask?: string[]; deny?: string[] } } = {}): LayerContext {
  const { permissions, ...rest } = over;
  return {
    now: new Date('2026-03-02T12:00:00'),
    home: '/home/nobody-kairos-test',
    kairosHome: '/nonexistent/kairos-home',
    rules: compileRules(permissions ?? {}),
    gate: { config: { triggers: {} }, state: { recentStarts: [], paused: false } },
    sandbox: WORKING_SANDBOX,
    attended: true,
    ...rest,
  };
}

export const allowOthers: LayerDeps = { trust: (): Verdict => ALLOW, spend: (): Verdict => ALLOW };
