import { ProposalStore } from '../store/proposal-store.js';
import type { Approval } from '../store/approval-store.js';
import type { ApprovalQueue } from './approvals.js';
import type { DecisionKind } from './decision-report.js';
import { followApproval } from './task-follow.js';

/**
 * Start-up: an approval left in 'applying' by a crash is settled from its proposal, which
 * recoverInterruptedApplies (run first) has either finished or rolled back: applied → approved;
 * rolled back → pending again (the human's approval never took effect; the clock still runs).
 * A command cannot be checked, so it is recorded as failed. Its tasks follow, and a settled
 * approval is reported as decided by 'recovery'. Run only while no apply can be in flight.
 */
export function recoverInterruptedApprovals(queue: ApprovalQueue, clock: () => Date): Approval[] {
  const { db, store, audit } = queue;
  const proposals = new ProposalStore(db);
  const out: Approval[] = [];
  for (const a of store.inState('applying')) {
    const p = a.proposalId ? proposals.get(a.proposalId) : null;
    const approved = `approval ${a.id} via ${a.decidedBy ?? '?'}`;
    const at = clock();
    let outcome: { kind: DecisionKind; reason: string; files: string[] } | null = null;
    const followed = db.transaction(() => {
      if (p?.state === 'applied') {
        store.move(a.id, ['applying'], 'approved', { appliedFiles: p.files });
        audit.apply(a, 'recovery', { validate: { decision: 'allow', reason: 'an apply a daemon stop interrupted was finished on start' }, approval: { decision: 'allow', reason: approved } });
        outcome = { kind: 'approve', reason: `approved via ${a.decidedBy ?? '?'}; the apply a daemon stop interrupted was finished on start`, files: p.files };
        return followApproval(db, a.id, at.toISOString(), `${outcome.reason}; undo: kairos undo ${a.id}`);
      }
      if (p?.state === 'proposed') {
        store.move(a.id, ['applying'], 'pending', { decidedAt: null, decidedBy: null });
        audit.apply(a, 'recovery', { validate: { decision: 'deny', reason: 'an apply a daemon stop interrupted was rolled back on start; the approval waits again' }, approval: { decision: 'allow', reason: approved } });
        return [];
      }
      const reason = `interrupted by a daemon stop while being applied${p ? ` (proposal is ${p.state})` : ''}; check the tree and queue it again`;
      store.move(a.id, ['applying'], 'failed', { reason });
      audit.apply(a, 'recovery', { validate: { decision: 'deny', reason }, approval: { decision: 'allow', reason: approved } });
      outcome = { kind: 'fail', reason, files: [] };
      return followApproval(db, a.id, at.toISOString(), reason);
    }).immediate();
    const settled = store.get(a.id)!;
    const o = outcome as { kind: DecisionKind; reason: string; files: string[] } | null;
    if (o) queue.report(o.kind, settled, 'recovery', { at, reason: o.reason, files: o.files, taskIds: followed.map((t) => t.taskId) });
    out.push(settled);
  }
  return out;
}
