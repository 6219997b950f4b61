import { ALL_REPOS, notApplicable, type AuditLog, type AuditStep } from '../policy/audit.js';
import type { ModelCallRequest } from './model-call.js';

/**
 * One model call attempt in the audit: spend is the ledger's real
 * reservation (or refusal); the other layers have nothing to decide for a model call — trust and
 * the gate are checked by the task or triage that makes the call, in its own rows.
 */
export function auditModelCall(audit: AuditLog, req: ModelCallRequest, model: string, inputTokens: number, spend: { decision: 'allow' | 'deny'; reason: string; rule?: string }): void {
  const taskId = req.taskId !== undefined ? Number.parseInt(req.taskId, 10) : Number.NaN;
  const step: AuditStep = {
    repo: req.repo ?? ALL_REPOS,
    ...(Number.isInteger(taskId) ? { taskId } : {}),
    ...(req.trigger !== undefined ? { trigger: req.trigger } : {}),
    origin: req.taskId !== undefined ? 'agent' : 'daemon',
    action: { type: 'model', model, inputTokens, maxTokens: req.max_tokens },
  };
  const checked = `checked by the ${req.taskId !== undefined ? 'task' : 'ambient decision'} that makes the call, before it`;
  audit.record(step, {
    validate: notApplicable("the request is Kairos's own; what the model answers is validated call by call"),
    trust: notApplicable(checked),
    gate: notApplicable(checked),
    spend,
  }, { otherwise: 'a model call runs no tool and changes no file' });
}
