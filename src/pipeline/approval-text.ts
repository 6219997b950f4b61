import type { Approval } from '../store/approval-store.js';
import { ApprovalError } from './approval-error.js';

/** What happened to the approval, as the rest of a sentence starting "approval ID ". */
export function describeApproval(a: Approval, nowIso: string): string {
  const via = a.decidedBy ? ` via ${a.decidedBy}` : '';
  switch (a.state) {
    case 'pending':
      return a.expiresAt <= nowIso ? `expired at ${a.expiresAt}` : `is pending until ${a.expiresAt}`;
    case 'applying':
      return `is being applied right now (approved at ${a.decidedAt}${via})`;
    case 'approved':
      return `was already approved at ${a.decidedAt}${via}`;
    case 'denied':
      return `was denied at ${a.decidedAt}${via}${a.reason ? ` (${a.reason})` : ''}`;
    case 'expired':
      return `expired at ${a.expiresAt}`;
    case 'failed':
      return `was approved at ${a.decidedAt}${via}, but applying it failed: ${a.reason ?? 'no reason recorded'}`;
  }
}

/** The refusal for approving or denying an approval that is no longer pending. */
export function notPendingError(a: Approval, nowIso: string, verb: 'approve' | 'deny'): ApprovalError {
  const done = verb === 'approve' ? 'approved' : 'denied';
  const expired = a.state === 'expired' || (a.state === 'pending' && a.expiresAt <= nowIso);
  if (expired) {
    return new ApprovalError('expired', `approval ${a.id} expired at ${a.expiresAt} and can no longer be ${done}; an expired approval counts as denied — let the task propose again`);
  }
  if (a.state === 'applying') return new ApprovalError('busy', `approval ${a.id} ${describeApproval(a, nowIso)}; it cannot be ${done} again`);
  const undo = a.state === 'approved' && a.proposalId ? `; to take it back: kairos undo ${a.id}` : '';
  return new ApprovalError('already_decided', `approval ${a.id} ${describeApproval(a, nowIso)}; an approval is decided once, so it cannot be ${done} now${undo}`);
}
