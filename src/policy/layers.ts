import { randomUUID } from 'node:crypto';
import { approvalLayer } from './approval.js';
import { LAYER_NAMES, type AuditLog, type LayerName } from './audit.js';
import { deny, type Step, type Verdict } from './decision.js';
import { filterLayer } from './filter.js';
import { gateLayer, type GateConfig, type GateState } from './gate.js';
import { permissionLayer, type PermissionRules } from './permission.js';
import { sandboxLayer, type SandboxStatus } from './sandbox.js';
import { validateLayer } from './validate.js';

/** Everything a layer may look at besides the step. The daemon builds one per evaluation. */
export interface LayerContext {
  now: Date;
  /** The user's home directory (for `~` in paths and rules). */
  home: string;
  kairosHome: string;
  rules: PermissionRules;
  gate: { config: GateConfig; state: GateState };
  sandbox: SandboxStatus;
  /** Whether a human can answer an ask right now; when not, asks become queued approvals. */
  attended: boolean;
}

/** One layer: the proposed step and the context in, a verdict out. */
export type Layer = (step: Step, ctx: LayerContext) => Verdict;

/** Layer 2, provided by src/policy/trust.ts. */
export type TrustLayer = Layer;
/**
 * Layer 4, provided by the spend ledger. It should only check that a model call fits under every
 * cap; if it reserves, the caller must release the reservation when the final verdict is not allow
 * (a later layer can still deny or ask).
 */
export type SpendLayer = Layer;

export interface LayerDeps {
  trust: TrustLayer;
  spend: SpendLayer;
  /** Where verdicts are recorded; absent for a dry run (explain). */
  audit?: AuditLog;
}

export interface LayerOutcome {
  layer: LayerName;
  verdict: Verdict;
}

export interface Evaluation {
  verdict: Verdict;
  /** The layer whose verdict is the final one (undefined when every layer allowed). */
  decidedBy?: LayerName;
  /** Each layer that ran, in order; layers after a deny do not run. */
  trail: LayerOutcome[];
  evalId: string;
}

/**
 * Runs the eight layers in their fixed order. A deny stops the run (so a step that is refused
 * never reaches the spend layer after it, nor anything else); an ask lets the later layers speak,
 * since one of them may still deny. A layer that throws denies: the policy fails closed.
 * Unattended, an ask becomes a queued approval — never an allow.
 */
export function evaluateStep(step: Step, ctx: LayerContext, deps: LayerDeps): Evaluation {
  const layers: Record<LayerName, Layer> = {
    validate: validateLayer,
    trust: deps.trust,
    gate: gateLayer,
    spend: deps.spend,
    permission: permissionLayer,
    sandbox: sandboxLayer,
    approval: approvalLayer,
    filter: filterLayer,
  };
  const trail: LayerOutcome[] = [];
  let final: Verdict = { decision: 'allow' };
  let decidedBy: LayerName | undefined;
  for (const name of LAYER_NAMES) {
    let v: Verdict;
    try {
      v = layers[name](step, ctx);
    } catch (e) {
      v = deny(`the ${name} layer failed: ${(e as Error).message}`);
    }
    trail.push({ layer: name, verdict: v });
    if (v.decision === 'deny' || (v.decision === 'ask' && final.decision === 'allow')) {
      final = v;
      decidedBy = name;
    }
    if (v.decision === 'deny') break;
  }
  if (final.decision === 'ask' && !ctx.attended) final = { ...final, queued: true };
  const evalId = randomUUID();
  deps.audit?.write(
    trail.map((t) => ({
      evalId,
      at: ctx.now,
      step,
      layer: t.layer,
      verdict: t.layer === decidedBy ? final : t.verdict,
      final: final.decision,
    })),
  );
  return { verdict: final, ...(decidedBy ? { decidedBy } : {}), trail, evalId };
}
