import { randomUUID } from 'node:crypto';
import { approvalLayer } from './approval.js';
import { LAYER_NAMES, notApplicable, type AuditLog, type LayerName, type LayerVerdict } from './audit.js';
import { deny, type Step, type Verdict } from './decision.js';
import { filterLayer } from './filter.js';
import { gateLayer, type GateConfig, type GateState } from './gate.js';
import { permissionLayer, type PermissionRules } from './permission.js';
import { sandboxLayer, type SandboxStatus } from './sandbox.js';
import { validateLayer } from './validate.js';
import { messageOf } from '../core/errors.js';

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
  /**
   * The gate's decision when it was taken elsewhere, for real: a task's start is gated by the task
   * runner (daemon/task-gate.ts) before the task runs, and that verdict is what the audit must show.
   */
  gate?: Layer;
  /** Where verdicts are recorded; absent for a dry run (explain). */
  audit?: AuditLog;
}

export interface LayerOutcome {
  layer: LayerName;
  verdict: LayerVerdict;
}

/**
 * Which layers have anything to decide for which steps. A layer outside its scope is not called and
 * is recorded as `n/a` with the reason here. This mirrors each layer's own early `return allow()`
 * for steps it does not govern: change both together.
 */
export function notApplicableReason(layer: LayerName, step: Step): string | undefined {
  const a = step.action;
  const isTool = a.type === 'tool';
  switch (layer) {
    case 'validate':
      return undefined;
    case 'trust':
    case 'gate':
      return step.origin === 'user' ? 'the user asked for it' : undefined;
    case 'spend':
      return a.type === 'model' ? undefined : 'only model calls cost money';
    case 'permission':
      return isTool ? undefined : a.type === 'run' ? "a trigger's own command: permission rules govern the agent's tool calls" : "permission rules govern the agent's tool calls";
    case 'sandbox':
      return isTool && a.call.tool === 'Bash' ? undefined : a.type === 'run' ? "a trigger's command runs as its policy wrote it" : 'runs no command';
    case 'approval':
      return isTool || a.type === 'apply' ? undefined : 'changes nothing outside the task';
    case 'filter':
      return isTool ? undefined : 'sends nothing to the model';
  }
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
    gate: deps.gate ?? gateLayer,
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
    const na = notApplicableReason(name, step);
    if (na !== undefined) {
      trail.push({ layer: name, verdict: notApplicable(na) });
      continue;
    }
    let v: Verdict;
    try {
      v = layers[name](step, ctx);
    } catch (e) {
      v = deny(`the ${name} layer failed: ${messageOf(e)}`);
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
  // Every evaluation leaves one row per layer: those after a deny were not reached, and say so.
  const reached = new Set(trail.map((t) => t.layer));
  const unreached = LAYER_NAMES.filter((l) => !reached.has(l)).map((layer) => ({ layer, verdict: notApplicable(`not reached: denied by the ${decidedBy} layer`) }));
  deps.audit?.write(
    [...trail, ...unreached].map((t) => ({
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
