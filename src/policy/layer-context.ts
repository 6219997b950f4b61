import os from 'node:os';
import type { Policy } from './schema.js';
import { GateConfig, type GateState } from './gate.js';
import type { LayerContext } from './layers.js';
import { compileRules } from './permission.js';
import type { SandboxStatus } from './sandbox.js';

/** The context every layer sees, for one repository's effective policy. */
export function layerContext(o: { policy: Policy; kairosHome: string; sandbox: SandboxStatus; attended: boolean; gateState?: GateState; now?: Date }): LayerContext {
  return {
    now: o.now ?? new Date(),
    home: os.homedir(),
    kairosHome: o.kairosHome,
    rules: compileRules(o.policy.permissions),
    gate: { config: GateConfig.parse({}), state: o.gateState ?? { recentStarts: [], paused: false } },
    sandbox: o.sandbox,
    attended: o.attended,
  };
}
