import os from 'node:os';
import type { Policy } from './schema.js';
import { GateConfig, type GateState } from './gate.js';
import { parseDuration } from './duration.js';
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
    gate: { config: gateConfig(o.policy), state: o.gateState ?? { recentStarts: [], paused: false } },
    sandbox: o.sandbox,
    attended: o.attended,
  };
}

/** The policy's `gate:` and each trigger's `max_per_hour`, as the gate layer reads them. */
export function gateConfig(policy: Policy): GateConfig {
  const g = policy.gate;
  const triggers: GateConfig['triggers'] = {};
  for (const t of policy.triggers) if (t.max_per_hour !== undefined) triggers[t.name] = { maxPerHour: t.max_per_hour };
  return GateConfig.parse({
    triggers,
    ...(g?.max_actions_per_hour !== undefined ? { maxActionsPerHour: g.max_actions_per_hour } : {}),
    ...(g?.quiet_hours ? { quietHours: g.quiet_hours } : {}),
    ...(g?.edit_backoff !== undefined ? { editBackoffMs: parseDuration(g.edit_backoff) } : {}),
  });
}
