import type { Approval } from '../store/approval-store.js';

/**
 * What the approval queue tells its listener after each decision is committed: the daemon turns it
 * into a daily-log line, withdraws or follows up the notification, fires hooks and re-runs a
 * trigger; the CLI (deciding with the daemon down) writes the daily-log line.
 *
 * - approve: approved and applied; fail: approved, but the apply failed;
 * - deny / expire: decided against (by a person / by the clock); the proposal is discarded;
 * - collapse: an identical proposal was made while this one waits: no second approval;
 * - apply / undo: `kairos apply` / `kairos undo` on a proposal (after its approval, or never queued).
 */
export type DecisionKind = 'approve' | 'fail' | 'deny' | 'expire' | 'collapse' | 'apply' | 'undo';

/** Who decided: a person's channel, the clock, or the daemon on its own account (recovery, a duplicate). */
export type Decider = 'cli' | 'notification' | 'tray' | 'mcp' | 'expiry' | 'recovery' | 'daemon';

export interface DecisionReport {
  kind: DecisionKind;
  /** The id every screen shows for it (the approval's; the same as the proposal's for a proposal queued once). */
  id: string;
  approval: Approval | null;
  proposalId: string | null;
  repo: string;
  trigger: string | null;
  by: Decider;
  /** Files written (approve, apply) or restored (undo). */
  files: string[];
  /** Why (a denial's reason, a failed apply's error, a duplicate's task). */
  reason: string | null;
  /** The hash of the diff (apply again after an undo needs it). */
  hash: string | null;
  /** Tasks whose state followed the decision. */
  taskIds: number[];
  at: Date;
}

export type DecisionListener = (r: DecisionReport) => void;
