import type { Db } from '../store/db.js';
import { ApprovalStore, type Approval } from '../store/approval-store.js';
import { ProposalStore, type Proposal } from '../store/proposal-store.js';
import { ApprovalError } from './approval-error.js';

/**
 * One id per proposal. A proposal's approval is created under the proposal's own id, so the id a
 * notification, the tray, `kairos pending`, `tasks` and the daily log show is the one `approve`,
 * `deny`, `show`, `apply` and `undo` take. Older stores (and a proposal queued a second time) have
 * two ids, so every command takes either, and any unambiguous prefix of at least MIN_PREFIX characters.
 */

export const MIN_PREFIX = 4;

export interface ResolvedRef {
  /** The approval the reference names (for a proposal id: its newest approval), if there is one. */
  approval: Approval | null;
  /** The proposal it names, or the one the approval is for; null for a command approval. */
  proposal: Proposal | null;
}

/** The approval and/or proposal an id or id prefix names; throws ApprovalError not_found / ambiguous. */
export function resolveRef(db: Db, ref: string): ResolvedRef {
  const approvals = new ApprovalStore(db);
  const proposals = new ProposalStore(db);
  const wanted = ref.trim().toLowerCase();
  const byApproval = (a: Approval): ResolvedRef => ({ approval: a, proposal: a.proposalId ? proposals.get(a.proposalId) : null });
  const byProposal = (p: Proposal): ResolvedRef => ({ approval: approvals.forProposal(p.id)[0] ?? null, proposal: p });

  const exactApproval = approvals.get(wanted);
  if (exactApproval) return byApproval(exactApproval);
  const exactProposal = proposals.get(wanted);
  if (exactProposal) return byProposal(exactProposal);

  if (wanted.length < MIN_PREFIX || !/^[a-z0-9]+$/.test(wanted)) {
    throw new ApprovalError('not_found', `no approval or proposal '${ref}'${wanted.length < MIN_PREFIX && wanted.length > 0 ? ` (a shortened id needs at least ${MIN_PREFIX} characters)` : ''}; \`kairos pending\` lists the ones waiting, \`kairos tasks\` the rest`);
  }
  // One subject per proposal (its approvals and itself are one thing), one per command approval.
  const subjects = new Map<string, () => ResolvedRef>();
  for (const id of approvals.idsWithPrefix(wanted)) {
    const a = approvals.get(id)!;
    subjects.set(a.proposalId ? `p:${a.proposalId}` : `a:${a.id}`, () => byApproval(a));
  }
  for (const id of proposals.idsWithPrefix(wanted)) {
    if (!subjects.has(`p:${id}`)) subjects.set(`p:${id}`, () => byProposal(proposals.get(id)!));
  }
  if (subjects.size === 1) return [...subjects.values()][0]!();
  if (subjects.size === 0) throw new ApprovalError('not_found', `no approval or proposal starts with '${ref}'; \`kairos pending\` lists the ones waiting, \`kairos tasks\` the rest`);
  const names = [...subjects.keys()].map((k) => k.slice(2)).sort();
  throw new ApprovalError('ambiguous', `'${ref}' is the start of ${names.length} ids (${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}); give more characters`);
}

/** The approval a reference names; a proposal that was never queued is refused with what to run instead. */
export function resolveApproval(db: Db, ref: string): Approval {
  const r = resolveRef(db, ref);
  if (r.approval) return r.approval;
  const p = r.proposal!;
  throw new ApprovalError('not_found', `proposal ${p.id} was never queued for approval (it is ${p.state}); \`kairos apply ${p.id} --hash ${p.hash}\` applies it`);
}

/** The proposal a reference names (an approval id names its proposal); a command approval is refused. */
export function resolveProposal(db: Db, ref: string): Proposal {
  const r = resolveRef(db, ref);
  if (r.proposal) return r.proposal;
  throw new ApprovalError('not_found', `${r.approval!.id} is a command approval, not a proposal: there is no diff to apply or undo`);
}

/** The id screens show for a proposal: its approval's (the same as its own for every proposal queued once). */
export function shownId(db: Db, proposalId: string): string {
  return new ApprovalStore(db).forProposal(proposalId)[0]?.id ?? proposalId;
}
