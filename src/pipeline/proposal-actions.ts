import type { Db } from '../store/db.js';
import type { Approval } from '../store/approval-store.js';
import { ProposalStore } from '../store/proposal-store.js';
import { applyProposal } from '../agent/apply.js';
import { removeTaskWorktree } from '../agent/worktree.js';
import { ApprovalError } from './approval-error.js';
import { redactRecord } from '../policy/filter.js';
import type { ApprovalQueueDeps } from './approvals.js';

export interface ProposalActionsOptions {
  db: Db;
  /** $KAIROS_HOME, where task worktrees live. */
  home: string;
  /** Tags the paths about to be written (the daemon's watcher must not trigger on its own writes). */
  onBeforeWrite?: (repo: string, paths: string[]) => void | Promise<void>;
}

/**
 * The apply / discard a queue of proposal approvals needs: apply is applyProposal with the stored
 * hash (so the tree gets exactly the diff shown); discard marks the proposal discarded and removes
 * its task worktree if one is still there.
 */
export function proposalActions(o: ProposalActionsOptions): Pick<ApprovalQueueDeps, 'apply' | 'discard'> {
  return {
    apply: async (a) => {
      if (a.kind !== 'proposal' || !a.proposalId || !a.hash) throw new ApprovalError('bad_request', `approval ${a.id} is a ${a.kind}, not a proposal; this queue only applies proposals`);
      const r = await applyProposal({
        db: o.db,
        proposalId: a.proposalId,
        hash: a.hash,
        repo: a.repo,
        ...(o.onBeforeWrite ? { onBeforeWrite: (paths: string[]) => o.onBeforeWrite!(a.repo, paths) } : {}),
      });
      return { files: r.files };
    },
    discard: async (a) => {
      if (a.proposalId) new ProposalStore(o.db).discard(a.proposalId);
      // The agent loop normally removes the worktree once the diff is stored; this catches one left behind.
      if (a.taskId) await removeTaskWorktree({ repo: a.repo, taskId: a.taskId, home: o.home });
    },
  };
}

/** The JSON every channel (CLI --json, control socket, tray) shows for an approval, secrets redacted. */
export function approvalJson(a: Approval): Record<string, unknown> {
  return redactRecord({
    id: a.id,
    kind: a.kind,
    state: a.state,
    hash: a.hash,
    summary: a.summary,
    command: a.command,
    files: a.files,
    trigger: a.trigger,
    repo: a.repo,
    task_id: a.taskId,
    proposal_id: a.proposalId,
    cost_micros: a.costMicros,
    cost_usd: a.costMicros / 1_000_000,
    created_at: a.createdAt,
    expires_at: a.expiresAt,
    decided_at: a.decidedAt,
    decided_by: a.decidedBy,
    reason: a.reason,
    applied_files: a.appliedFiles,
  });
}
