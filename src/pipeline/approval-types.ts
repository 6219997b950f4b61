import type { Approval, HumanChannel } from '../store/approval-store.js';
import type { Proposal } from '../store/proposal-store.js';
import type { DecisionListener } from './decision-report.js';

/** The approval queue's inputs and results (src/pipeline/approvals.ts). */

export interface ApprovalQueueDeps {
  /** Applies the approved change to the user's tree (for a proposal: exactly the diff under approval.hash). */
  apply: (approval: Approval) => Promise<{ files: string[] }>;
  /** Throws away what a denied or expired approval would have applied (the proposal, its worktree). */
  discard: (approval: Approval) => Promise<void>;
  now?: () => Date;
  makeId?: () => string;
  /** Told after each decision is committed (daily log, notifications, hooks); what it throws is ignored. */
  onDecided?: DecisionListener;
  /** Told after a new approval is committed (the daemon arms its expiry timer for it); what it throws is ignored. */
  onQueued?: (approval: Approval) => void;
}

/** One-time secrets for a notification's or the tray's buttons; returned once, only their hashes are kept. */
export interface ApprovalTokens {
  approve: string;
  deny: string;
  show: string;
}

export interface EnqueueProposalInput {
  proposal: Proposal;
  trigger?: string | null;
  taskId?: string | number | null;
  costMicros?: number;
  ttlMs?: number;
}

export interface EnqueueCommandInput {
  command: string;
  summary: string;
  repo: string;
  trigger?: string | null;
  taskId?: string | number | null;
  costMicros?: number;
  ttlMs?: number;
}

export interface DecideOptions {
  channel: HumanChannel;
  /** The action token from a notification or tray button; when given it must be this approval's, for this action, unused. */
  token?: string | undefined;
}

export interface ApproveOptions extends DecideOptions {
  /** The hash the human saw (`kairos approve --hash`); when given it must equal the stored hash. */
  hash?: string | undefined;
}

export interface DenyOptions extends DecideOptions {
  reason?: string | undefined;
}

/**
 * A queued proposal: a new approval with its one-time tokens, or, when an identical proposal (same
 * repository, same diff hash) already waits, that approval (collapsed: no second approval, no tokens,
 * nothing to announce again; the new proposal is discarded and its task follows the waiting approval).
 */
export type QueuedProposal = { approval: Approval; tokens: ApprovalTokens; collapsed: false } | { approval: Approval; tokens: null; collapsed: true };

export interface ApproveResult {
  approval: Approval;
  files: string[];
}

export interface DenyResult {
  approval: Approval;
  /** Set when the denial was recorded but throwing the proposal away failed (the caller logs it). */
  discardError?: string;
}

export interface ApprovalDetails {
  approval: Approval;
  /** The exact diff bytes whose sha256 is approval.hash (proposal approvals). */
  diff: Buffer | null;
}

