import type { Db } from '../src/store/db.js';
import { pokeNotes } from '../src/store/event-store.js';
import type { ModelClient } from '../src/model/client.js';
import type { Policy, Trigger } from '../src/policy/schema.js';
import type { SandboxStatus } from '../src/policy/sandbox.js';
import { fenceUntrusted, redactText } from '../src/policy/filter.js';
import { memoryFor } from '../src/pipeline/memory.js';
import type { ProposalNotice } from '../src/report/notify-actions.js';
import type { Logger } from '../src/report/logger.js';
import type { TaskRow, TaskStore } from '../src/store/task-store.js';
import type { Execution } from '../src/pipeline/runner.js';
import { runAgentTask } from '../src/agent/task.js';
import { applyProposalChecked, undoProposalAudited } from '../src/pipeline/proposal-decisions.js';
import { formatUsd } from '../src/model/prices.js';
import type { Origin } from '../src/model/ledger.js';
import { AMBIENT_TRIGGER } from './ambient.js';
import type { ApprovalQueue } from '../src/pipeline/approvals.js';
import { hookMessageSink } from './hook-messages.js';

export interface AgentTasksDeps {
  db: Db;
  approvals: ApprovalQueue;
  /** Shows a proposal to the human with its one-time action tokens (desktop notification with actions). */
  announce(notice: ProposalNotice): void;
  home: string;
  tasks: TaskStore;
  model: ModelClient;
  sandbox: SandboxStatus;
  log: Logger;
  notify: (title: string, body: string) => void;
  /** Appends to the daily log (a hook's systemMessage goes there). */
  daily?(text: string, repo?: string): void;
  /** Tags paths the daemon is about to write in a repository, so its watcher does not trigger on them. */
  markOwnWrites(repo: string, paths: readonly string[]): void;
}

/** Agent tasks as the daemon runs them: started by `ask` triggers, or after a `run` that failed. */
export class AgentTasks {
  constructor(private readonly d: AgentTasksDeps) {}

  /** After a command task finished: does its trigger ask the agent to look? Returns the new task id. */
  followUp(task: TaskRow, trigger: Trigger): number | undefined {
    // A command the layers refused (skipped, or refused as it was about to run) did not run: there is no result to look at.
    const data = task.data;
    if (!trigger.ask || !trigger.run || task.state === 'skipped' || data.refused_by !== undefined) return undefined;
    // A re-run after an applied fix reports its result; it does not start another fix by itself.
    if (data.after_apply !== undefined) return undefined;
    const when = trigger.ask_on ?? 'failure';
    if (when === 'failure' && task.state !== 'failed') return undefined;
    return this.d.tasks.createFollowUp({ repo: task.repo, trigger: task.trigger, kind: 'agent', batchId: task.batch_id, at: new Date().toISOString(), data: { after_task: task.id } });
  }

  async run(task: TaskRow, trigger: Trigger, policy: Policy, paths: readonly string[]): Promise<Execution> {
    const r = await runAgentTask(
      { taskId: task.id, repo: task.repo, trigger: trigger.name, instruction: trigger.ask!, context: this.context(task, paths), policy, origin: this.origin(task) },
      {
        db: this.d.db,
        home: this.d.home,
        model: this.d.model,
        sandbox: this.d.sandbox,
        log: this.d.log,
        notify: (message) => this.d.notify(`Kairos: ${trigger.name}`, message),
        hookMessage: hookMessageSink(
          { notify: this.d.notify, daily: (text, repo) => this.d.daily?.(text, repo), log: this.d.log },
          { repo: task.repo, title: `Kairos: ${trigger.name}` },
        ),
      },
    );
    this.d.tasks.patchData(task.id, { cost_micro: r.costMicro, ...(r.state === 'proposed' ? { proposal_id: r.proposal.id } : {}), ...(r.workers ? { workers: r.workers } : {}) });
    if (r.state === 'proposed') {
      const p = r.proposal;
      // Nothing reaches the user's tree until a human approves exactly this diff (or it expires: denied).
      const queued = this.d.approvals.enqueueProposal({ proposal: p, trigger: trigger.name, taskId: task.id, costMicros: r.costMicro });
      const { approval } = queued;
      this.d.tasks.patchData(task.id, { approval_id: approval.id });
      if (queued.collapsed) {
        // The same diff already waits for the human: no second approval, no second notification.
        this.d.log.info({ task: task.id, proposal: p.id, approval: approval.id }, 'proposal is the same diff as one already waiting; this task follows that approval');
        return {
          state: 'proposed',
          reason: `approval ${approval.id} (the same diff was already waiting): ${approval.summary}`,
          output: `the same diff as approval ${approval.id}, already waiting; proposal ${p.id} is discarded
review: kairos show ${approval.id} · approve: kairos approve ${approval.id} · deny: kairos deny ${approval.id}`,
        };
      }
      this.d.announce({
        approvalId: approval.id,
        summary: redactText(approval.summary),
        repo: approval.repo,
        files: approval.files,
        costUsd: approval.costMicros / 1e6,
        expiresAt: approval.expiresAt,
        tokens: queued.tokens,
      });
      this.d.log.info({ task: task.id, proposal: p.id, approval: approval.id, files: p.files, cost: formatUsd(r.costMicro) }, 'proposal waiting for approval');
      return {
        state: 'proposed',
        reason: `approval ${approval.id}: ${p.summary}`,
        output: `approval ${approval.id} (${p.files.length} files, ${formatUsd(r.costMicro)})\nhash ${p.hash}\n${p.files.join('\n')}\nreview: kairos show ${approval.id} · approve: kairos approve ${approval.id} · deny: kairos deny ${approval.id}`,
      };
    }
    return { state: r.state, reason: r.reason };
  }

  /**
   * At start: every proposal still waiting is shown again with fresh one-time tokens (the last
   * daemon's buttons died with it, and it withdrew them as it stopped). Returns how many.
   */
  announcePending(): number {
    let n = 0;
    for (const a of this.d.approvals.pending()) {
      if (a.kind !== 'proposal') continue;
      const tokens = this.d.approvals.issueTokens(a.id);
      this.d.announce({ approvalId: a.id, summary: redactText(a.summary), repo: a.repo, files: a.files, costUsd: a.costMicros / 1e6, expiresAt: a.expiresAt, tokens });
      n++;
    }
    return n;
  }

  /**
   * Applies exactly the diff whose hash the human saw; its writes are tagged as the daemon's own.
   * A proposal waiting in the approval queue is approved through it (state and expiry checked as it
   * is claimed), so one decision cannot be made twice and an expired one never applies.
   */
  async apply(repo: string, id: string, hash: string): Promise<{ applied: true; files: string[] }> {
    return applyProposalChecked(this.d.approvals, { proposalId: id, hash, repo, channel: 'cli', onBeforeWrite: (paths) => this.d.markOwnWrites(repo, paths) });
  }

  undo(repo: string, id: string, force: boolean): Promise<{ restored: string[] }> {
    return undoProposalAudited(this.d.approvals, { proposalId: id, repo, force, channel: 'cli', onBeforeWrite: (paths) => this.d.markOwnWrites(repo, paths) });
  }

  /**
   * Who an agent task is for: the user's poke (in its batch, or the triage of a poke that queued it)
   * is attended; ambient triage's own tasks and a trigger's are not.
   */
  private origin(task: TaskRow): Origin {
    if (task.data.origin === 'poke' || (task.batch_id !== null && this.d.tasks.batchHasPoke(task.batch_id))) return 'poke';
    return task.trigger === AMBIENT_TRIGGER ? 'ambient' : 'trigger';
  }

  private context(task: TaskRow, paths: readonly string[]): string {
    const data = task.data;
    const parts: string[] = [];
    if (data.after_task) {
      const before = this.d.tasks.get(data.after_task);
      if (before) {
        parts.push(`The command \`${before.command}\` ${before.state === 'failed' ? `failed (exit code ${before.exit_code ?? 'none'}${before.reason ? `, ${before.reason}` : ''})` : 'finished'}. Its output:`);
        parts.push(fenceUntrusted(`output of ${before.command}`, before.output ?? ''));
      }
    }
    // A poke's note (after the UserPromptSubmit hooks, with the context they added) is what the user asked for.
    const notes = task.batch_id ? pokeNotes(this.d.db, task.batch_id) : [];
    for (const note of notes) parts.push(`The developer's note (kairos poke):\n${note}`);
    if (paths.length) parts.push(`Changed paths:\n${paths.slice(0, 200).join('\n')}${paths.length > 200 ? `\n… and ${paths.length - 200} more` : ''}`);
    // What the dream learned about this repository (the same notes triage reads). Fenced: it was
    // written by a model from logs of hostile repository output, so it is data, not instructions.
    const memory = memoryFor(this.d.home, task.repo);
    if (memory?.trim()) parts.push(`Kairos's notes on this repository (MEMORY.md, from past days):\n${fenceUntrusted('MEMORY.md', memory)}`);
    return parts.join('\n\n') || 'No further context.';
  }
}
