import { z } from 'zod';
import { ApprovalError } from '../pipeline/approvals.js';
import { resolveProposal, shownId } from '../pipeline/approval-ids.js';
import { applyProposalChecked, undoProposalAudited } from '../pipeline/proposal-decisions.js';
import { undoCommand as undoHint } from '../report/decision-text.js';
import { askDaemon, DaemonNotRunningError } from './control-client.js';
import { ControlError } from './protocol.js';
import { directQueue } from './approval-commands.js';
import { withStore, withStoreAsync } from './listings.js';

/** The proposal an id names (its approval's id, its own, or an unambiguous prefix), with the id screens show for it. */
function target(home: string, ref: string): { proposalId: string; shown: string; repo: string } {
  try {
    return withStore(home, (db) => {
      const p = resolveProposal(db, ref);
      return { proposalId: p.id, shown: shownId(db, p.id), repo: p.repo };
    });
  } catch (e) {
    if (e instanceof ApprovalError) throw new ControlError(e.message, e.code, { cause: e });
    throw e;
  }
}

/**
 * Through the daemon when it runs (its watcher must know these writes are its own), else directly.
 * Either way the same code checks the approval's state and expiry and the hash against exactly the stored diff.
 */
async function viaDaemonOrDirect<T>(home: string, method: string, params: Record<string, unknown>, answer: z.ZodType<T>, direct: () => Promise<T>): Promise<T> {
  try {
    return await askDaemon(home, method, params, answer, 120_000);
  } catch (e) {
    if (e instanceof DaemonNotRunningError) return direct();
    throw e;
  }
}

export async function applyCommand(home: string, ref: string, hash: string): Promise<number> {
  const { proposalId, shown, repo } = target(home, ref);
  const r = await viaDaemonOrDirect(home, 'apply', { repo, id: proposalId, hash }, z.object({ files: z.array(z.string()) }), () =>
    withStoreAsync(home, (db) => applyProposalChecked(directQueue(db, home), { proposalId, hash, repo, channel: 'cli' })),
  );
  process.stdout.write(`kairos: applied ${shown} to ${repo}:\n${r.files.map((f) => `  ${f}`).join('\n')}\nundo:  ${undoHint(shown)}\n`);
  return 0;
}

export async function undoCommand(home: string, ref: string, force: boolean): Promise<number> {
  const { proposalId, shown, repo } = target(home, ref);
  const r = await viaDaemonOrDirect(home, 'undo', { repo, id: proposalId, force }, z.object({ restored: z.array(z.string()) }), () =>
    withStoreAsync(home, (db) => undoProposalAudited(directQueue(db, home), { proposalId, repo, force, channel: 'cli' })),
  );
  process.stdout.write(`kairos: undid ${shown} in ${repo}; restored:\n${r.restored.map((f) => `  ${f}`).join('\n')}\n`);
  return 0;
}
