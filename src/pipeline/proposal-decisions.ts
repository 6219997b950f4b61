import { applyProposal, undoProposal, type ApplyResult, type UndoResult } from '../agent/apply.js';
import { ProposalStore } from '../store/proposal-store.js';
import { ApprovalError, type ApprovalQueue, type HumanChannel } from './approvals.js';
import { followProposal } from './task-follow.js';
import { messageOf } from '../core/errors.js';

/**
 * `kairos apply ID --hash H` and `kairos undo ID`, the same whichever process runs them (the daemon
 * over its socket, or the CLI on the store with the daemon down), so no path skips a check:
 * - a proposal waiting for approval is applied only THROUGH that approval, whose state and expiry
 *   are checked in the same UPDATE that claims it (an approval past its expiry is expired there and
 *   then, and the apply refused);
 * - a proposal whose approval was denied, expired or failed is refused;
 * - a proposal never queued, or approved before (applied again after an undo), is applied under the
 *   hash the human gives, which must be the hash of exactly the stored diff.
 * Each attempt leaves audit rows, refused or not; a successful one moves the proposal's tasks
 * (applied / undone) in the same transaction as its audit row and is reported to the queue's listener.
 */
export async function applyProposalChecked(
  queue: ApprovalQueue,
  o: { proposalId: string; hash: string; repo: string; channel: HumanChannel; onBeforeWrite?: (paths: string[]) => void | Promise<void> },
): Promise<ApplyResult> {
  const latest = queue.store.forProposal(o.proposalId)[0];
  if (latest?.state === 'pending') {
    const r = await queue.approve(latest.id, { channel: o.channel, hash: o.hash });
    return { applied: true, files: r.files };
  }
  const p = new ProposalStore(queue.db).get(o.proposalId);
  const subject = { repo: p?.repo ?? o.repo, taskId: p?.taskId ?? null, trigger: latest?.trigger ?? null, proposalId: o.proposalId, ...(latest ? { id: latest.id } : {}) };
  if (latest && latest.state !== 'approved') {
    const code = latest.state === 'expired' ? 'expired' : latest.state === 'applying' ? 'busy' : 'already_decided';
    const why = latest.state === 'expired' ? `expired at ${latest.expiresAt}` : latest.state === 'applying' ? 'is being applied right now' : `was ${latest.state}${latest.reason ? ` (${latest.reason})` : ''}`;
    const err = new ApprovalError(code, `proposal ${o.proposalId} cannot be applied: its approval ${latest.id} ${why}; an approval is decided once — let the task propose again`);
    queue.audit.apply(subject, o.channel, { approval: { decision: 'deny', reason: err.message } });
    throw err;
  }
  const approval = latest ? `approved before via approval ${latest.id}` : 'never queued for approval: the hash the user gave is the approval';
  try {
    const r = await applyProposal({ db: queue.db, proposalId: o.proposalId, hash: o.hash, repo: o.repo, ...(o.onBeforeWrite ? { onBeforeWrite: o.onBeforeWrite } : {}) });
    const at = new Date();
    const id = latest?.id ?? o.proposalId;
    const followed = queue.db.transaction(() => {
      queue.audit.apply(subject, o.channel, { validate: { decision: 'allow', reason: `the hash given is the stored diff's; ${r.files.length} file(s) written` }, approval: { decision: 'allow', reason: approval } });
      return followProposal(queue.db, o.proposalId, at.toISOString(), `applied via ${o.channel} (kairos apply): ${r.files.length} file(s); undo: kairos undo ${id}`);
    }).immediate();
    queue.report('apply', latest ?? null, o.channel, { at, files: r.files, proposal: p, taskIds: followed.map((t) => t.taskId) });
    return r;
  } catch (e) {
    queue.audit.apply(subject, o.channel, { validate: { decision: 'deny', reason: messageOf(e) }, approval: { decision: 'allow', reason: approval } });
    throw e;
  }
}

/** Undo of an applied proposal, audited whatever its outcome. */
export async function undoProposalAudited(
  queue: ApprovalQueue,
  o: { proposalId: string; repo: string; force: boolean; channel: HumanChannel; onBeforeWrite?: (paths: string[]) => void | Promise<void> },
): Promise<UndoResult> {
  const p = new ProposalStore(queue.db).get(o.proposalId);
  const step = { repo: p?.repo ?? o.repo, taskId: p?.taskId ?? null, trigger: null, proposalId: o.proposalId };
  try {
    const r = await undoProposal({ db: queue.db, proposalId: o.proposalId, repo: o.repo, force: o.force, ...(o.onBeforeWrite ? { onBeforeWrite: o.onBeforeWrite } : {}) });
    const at = new Date();
    const latest = queue.store.forProposal(o.proposalId)[0] ?? null;
    const id = latest?.id ?? o.proposalId;
    const followed = queue.db.transaction(() => {
      queue.audit.undo(step, o.channel, o.force, { validate: { decision: 'allow', reason: `restored ${r.restored.length} file(s) to their pre-apply bytes` }, approval: { decision: 'allow', reason: `the user asked for it via ${o.channel}` } });
      return followProposal(queue.db, o.proposalId, at.toISOString(), `undone via ${o.channel}${o.force ? ' (--force)' : ''}: ${r.restored.length} file(s) restored; apply again: kairos apply ${id} --hash ${p?.hash ?? 'HASH'}`);
    })();
    queue.report('undo', latest, o.channel, { at, files: r.restored, proposal: p, taskIds: followed.map((t) => t.taskId) });
    return r;
  } catch (e) {
    queue.audit.undo(step, o.channel, o.force, { validate: { decision: 'deny', reason: messageOf(e) }, approval: { decision: 'allow', reason: `the user asked for it via ${o.channel}` } });
    throw e;
  }
}
