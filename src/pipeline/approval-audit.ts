import type { Db } from '../store/db.js';
import { approvalTaskNumber, type Approval } from '../store/approval-store.js';
import { AuditLog, type AuditStep, type LayerName, type LayerVerdict } from '../policy/audit.js';

type Verdicts = Partial<Record<LayerName, LayerVerdict>>;
type Subject = Pick<Approval, 'repo' | 'taskId' | 'trigger'>;

/**
 * Every decision on an approval, and every apply and undo, leaves audit rows (the approval queue
 * writes them in the transaction that moves the approval, where there is one): the approval layer
 * carries the decision, validate the hash check or the apply's outcome; the other layers had
 * nothing to decide and say n/a.
 */
export class ApprovalAudit {
  private readonly log: AuditLog;

  constructor(
    db: Db,
    private readonly clock: () => Date,
  ) {
    this.log = new AuditLog(db);
  }

  decision(a: Approval, decision: 'approve' | 'deny' | 'expire' | 'collapse', channel: string, verdicts: Verdicts, now: Date = this.clock()): void {
    this.log.record(approvalStep(a, { type: 'approval', decision, approval: a.id, channel, proposal: a.proposalId }, channel), verdicts, { at: now });
  }

  apply(a: Subject & { proposalId: string | null; id?: string }, channel: string, verdicts: Verdicts, now: Date = this.clock()): void {
    const detail = `proposal ${a.proposalId ?? '?'}${a.id ? ` (approval ${a.id})` : ''}`;
    this.log.record(approvalStep(a, { type: 'apply', target: 'user-tree', detail }, channel), verdicts, { at: now });
  }

  undo(a: Subject & { proposalId: string }, channel: string, force: boolean, verdicts: Verdicts, now: Date = this.clock()): void {
    this.log.record(approvalStep(a, { type: 'undo', proposal: a.proposalId, force }, channel), verdicts, { at: now });
  }
}

/** Deciders that are not a person: the clock, a start-up recovery, the daemon collapsing a duplicate. */
const DAEMON_DECIDERS = new Set(['expiry', 'recovery', 'daemon']);

/** The audit step of a decision, apply or undo: a human's channel is the user; the clock, a start-up recovery and the daemon are the daemon. */
function approvalStep(a: Subject, action: AuditStep['action'], channel: string): AuditStep {
  const taskId = approvalTaskNumber(a);
  return { repo: a.repo, ...(taskId !== null ? { taskId } : {}), ...(a.trigger ? { trigger: a.trigger } : {}), origin: DAEMON_DECIDERS.has(channel) ? 'daemon' : 'user', action };
}
