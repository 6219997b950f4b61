import { allow, ask, type Step, type Verdict } from '../decision.js';
import type { LayerContext } from '../layers.js';

/**
 * Layer 6: a command chosen by the agent runs only in the sandbox (no network, default-deny file
 * system, resource limits); when there is none, a human must approve running it unsandboxed.
 * Commands written by the user in a trusted policy (`run:`) run as the user wrote them.
 */
export function sandboxLayer(step: Step, ctx: LayerContext): Verdict {
  const a = step.action;
  if (!(a.type === 'tool' && a.call.tool === 'Bash' && step.origin === 'agent')) return allow();
  if (ctx.sandbox.available) return allow(`runs in the ${ctx.sandbox.backend} sandbox (no network, sees only the worktree, system and toolchains; writes only in the worktree)`);
  return ask(`no sandbox available: approve to run unsandboxed (${ctx.sandbox.detail})`);
}
