import { ProposalStore } from '../store/proposal-store.js';
import { ApprovalQueue, proposalActions } from '../pipeline/approvals.js';
import { applyProposalChecked, undoProposalAudited } from '../pipeline/proposal-decisions.js';
import { callDaemon, DaemonNotRunningError } from './control-client.js';
import { withStore, withStoreAsync } from './listings.js';

function repoOf(home: string, id: string): string {
  const p = withStore(home, (db) => new ProposalStore(db).get(id));
  if (!p) throw new Error(`no proposal '${id}'; 'kairos tasks' lists tasks with their proposals`);
  return p.repo;
}

/**
 * Through the daemon when it runs (its watcher must know these writes are its own), else directly.
 * Either way the same code checks the approval's state and expiry and the hash against exactly the stored diff.
 */
async function viaDaemonOrDirect<T>(home: string, method: string, params: Record<string, unknown>, direct: () => Promise<T>): Promise<T> {
  try {
    return (await callDaemon(home, method, params, 120_000)) as T;
  } catch (e) {
    if (e instanceof DaemonNotRunningError) return direct();
    throw e;
  }
}

export async function applyCommand(home: string, id: string, hash: string): Promise<number> {
  const repo = repoOf(home, id);
  const r = await viaDaemonOrDirect(home, 'apply', { repo, id, hash }, () =>
    withStoreAsync(home, (db) => applyProposalChecked(new ApprovalQueue(db, proposalActions({ db, home })), { proposalId: id, hash, repo, channel: 'cli' })),
  );
  process.stdout.write(`kairos: applied proposal ${id} to ${repo}:\n${r.files.map((f) => `  ${f}`).join('\n')}\nundo with 'kairos undo ${id}'\n`);
  return 0;
}

export async function undoCommand(home: string, id: string, force: boolean): Promise<number> {
  const repo = repoOf(home, id);
  const r = await viaDaemonOrDirect(home, 'undo', { repo, id, force }, () =>
    withStoreAsync(home, (db) => undoProposalAudited(new ApprovalQueue(db, proposalActions({ db, home })), { proposalId: id, repo, force, channel: 'cli' })),
  );
  process.stdout.write(`kairos: undid proposal ${id} in ${repo}; restored:\n${r.restored.map((f) => `  ${f}`).join('\n')}\n`);
  return 0;
}
