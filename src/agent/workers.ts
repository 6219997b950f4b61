import fs from 'node:fs';
import path from 'node:path';
import type { SpendLedger } from '../model/ledger.js';
import { formatUsd } from '../model/prices.js';
import type { LogSink } from '../report/logger.js';
import type { AgentOutcome } from './loop.js';
import { DIFF_ARGS, withWorktreeIndex } from './proposal.js';
import { createTaskWorktree, removeTaskWorktree, repoLayout, type TaskWorktree } from './worktree.js';
import { git, gitText, type GitLocation } from '../git/safe-git.js';
import { taskWorktreeLocation } from '../git/locate.js';
import { indexWorktree } from './git/tree-index.js';
import type { ToolInput } from './tools/schemas.js';
import type { WorkerRecord } from '../store/task-data.js';
import { messageOf } from '../core/errors.js';

export type { WorkerRecord };

/**
 * Coordinated workers: the `split` tool of an action task (the coordinator). Each part runs as a
 * worker agent in parallel, in a worktree of its own based on a snapshot of the coordinator's
 * worktree as it is on disk (createTaskWorktree `from`), with its own slice of the coordinator's
 * task budget. A worker's proposal is not stored or queued: its diff comes back as bytes and is
 * applied into the coordinator's worktree with `git apply --3way`, in the order of the parts. The
 * coordinator then goes on and ends with the one proposal a human approves.
 *
 * Budget invariant (ledger, task cap T = budget.task_usd of the coordinator C):
 *   spent(C) + Σ spent(workers of C) ≤ T, where spent counts settled cost and open reservations.
 * Why it holds: before the workers start, left = T − (C's rows + rows of C's earlier workers), read
 * from the ledger; each worker i gets setTaskCap(`<C>-w<i>`, ⌊left / n⌋, parent C), so its reserves
 * fit under its slice and Σ slices ≤ left; each worker reserve is also checked against C's cap,
 * whose total includes every worker row; C makes no model call while split runs (the loop awaits
 * the tool); afterwards C's task total includes its workers' rows, so C's later reserves fit only
 * under what is left of T. (As everywhere in the ledger, a settle may exceed its reservation only
 * when the input-token estimate was low; that is recorded as an overrun.)
 * Without a task cap the slices come from the least left under any configured cap; with no cap at
 * all workers get no slice (nothing to divide) and only the ledger's window caps apply.
 */

export type WorkerSpec = ToolInput<'split'>['tasks'][number];

export interface WorkerRun {
  /** `<coordinator>-w<i>` */
  id: string;
  instruction: string;
  worktree: TaskWorktree;
}

export interface SplitDeps {
  /** The coordinator's task id (its ledger key is String(taskId)). */
  taskId: number;
  repo: string;
  home: string;
  /** The coordinator's worktree: workers start from it, their diffs are applied into it. */
  coordinatorDir: string;
  ledger: SpendLedger;
  /** workers.max of the policy. */
  maxWorkers: number;
  /** Runs one worker's agent loop in its worktree (the caller wires hooks, policy layers and tools). */
  runWorker(w: WorkerRun): Promise<AgentOutcome>;
  log: LogSink;
  now?: () => number;
}

export interface SplitResult {
  workers: WorkerRecord[];
  /** What the coordinator's model is told. */
  text: string;
  failed: boolean;
}

/** Worker numbering goes on across several splits of one task, so ids (and branches) never repeat. */
export class SplitRunner {
  private next = 1;
  readonly records: WorkerRecord[] = [];

  constructor(private readonly d: SplitDeps) {}

  async split(tasks: readonly WorkerSpec[]): Promise<SplitResult> {
    const d = this.d;
    const now = d.now ?? Date.now;
    if (tasks.length > d.maxWorkers) {
      return { workers: [], failed: true, text: `not split: ${tasks.length} parts asked, at most ${d.maxWorkers} (workers.max in the policy); merge some parts` };
    }
    const parent = String(d.taskId);
    const pool = d.ledger.taskLeftMicro(parent) ?? d.ledger.leftMicro(now(), parent);
    const slice = pool === undefined ? null : Math.floor(pool / tasks.length);
    const runs = tasks.map((t) => ({ id: `${parent}-w${this.next++}`, spec: t }));
    // Every slice is set before any worker starts, so no worker can take another's share.
    if (slice !== null) for (const r of runs) d.ledger.setTaskCap(r.id, slice, { parentTaskId: parent }, now());
    d.log.info({ task: d.taskId, workers: runs.map((r) => r.id), slice_micro: slice }, 'split into workers');

    const results = await Promise.all(runs.map((r) => this.runOne(r.id, r.spec)));
    const records: WorkerRecord[] = [];
    for (const [i, r] of results.entries()) {
      const run = runs[i]!;
      const base: Omit<WorkerRecord, 'outcome' | 'reason' | 'files' | 'conflicts'> = {
        id: run.id,
        instruction: run.spec.instruction,
        cost_micro: r.costMicro,
        slice_micro: slice,
      };
      if (r.kind !== 'diff') {
        records.push({ ...base, outcome: r.kind, reason: r.reason, files: [], conflicts: [] });
        continue;
      }
      const merged = await applyWorkerDiff(taskWorktreeLocation(await repoLayout(d.repo), d.coordinatorDir), r.diff);
      records.push({
        ...base,
        outcome: merged.conflicts.length || merged.error ? 'conflict' : 'merged',
        reason: merged.error ?? r.reason,
        files: r.files,
        conflicts: merged.conflicts,
      });
    }
    this.records.push(...records);
    return { workers: records, failed: records.every((w) => w.outcome !== 'merged'), text: describe(records) };
  }

  private async runOne(
    id: string,
    spec: WorkerSpec,
  ): Promise<{ kind: 'diff'; diff: Buffer; files: string[]; reason: string; costMicro: number } | { kind: 'slept' | 'failed' | 'no_changes'; reason: string; costMicro: number }> {
    const d = this.d;
    let wt: TaskWorktree | undefined;
    let costMicro = 0;
    try {
      wt = await createTaskWorktree({ repo: d.repo, taskId: id, home: d.home, includeUncommitted: false, from: d.coordinatorDir });
      const focus = spec.paths?.length ? `\n\nFocus on: ${spec.paths.join(', ')}` : '';
      const outcome = await d.runWorker({ id, instruction: `${spec.instruction}${focus}`, worktree: wt });
      costMicro = outcome.costMicro;
      if (outcome.kind === 'failed') return { kind: 'failed', reason: outcome.reason, costMicro };
      if (outcome.kind === 'sleep') return { kind: 'slept', reason: outcome.reason, costMicro };
      const { diff, files } = await worktreeDiff({ gitDir: wt.gitDir, workTree: wt.dir }, wt.base, id);
      if (diff.length === 0) return { kind: 'no_changes', reason: outcome.summary, costMicro };
      return { kind: 'diff', diff, files, reason: outcome.summary, costMicro };
    } catch (e) {
      d.log.warn({ task: d.taskId, worker: id, err: messageOf(e) }, 'worker failed');
      return { kind: 'failed', reason: messageOf(e), costMicro };
    } finally {
      await removeTaskWorktree({ repo: d.repo, taskId: id, home: d.home }).catch((e: Error) => d.log.warn({ task: d.taskId, worker: id, err: e.message }, 'worker worktree not removed'));
      fs.rmSync(path.join(d.home, 'spill', id), { recursive: true, force: true });
    }
  }
}

/**
 * A worktree's changes against its base, in the proposal format (DIFF_ARGS), as bytes: the same
 * index and the same refusals as makeProposal (a worker's tree that carries anything a proposal may
 * not is refused, and the worker counts as failed), stored nowhere.
 */
export async function worktreeDiff(loc: GitLocation & { workTree: string }, base: string, who: string): Promise<{ diff: Buffer; files: string[] }> {
  return withWorktreeIndex(loc, base, who, async (idx) => ({
    diff: (await git(loc, ['diff', '--cached', ...DIFF_ARGS, base, '--'], { env: idx.env })).stdout,
    files: idx.changed,
  }));
}

/**
 * Applies a worker's diff into the coordinator's worktree. `--3way` works through an index that
 * matches the tree on disk: a scratch one, built by the daemon (never `git add`, which would run
 * what the coordinator's tree plants) and refreshed so git sees it matches. Overlapping hunks become
 * conflict markers the coordinator is told about, never a silent loss.
 */
export async function applyWorkerDiff(loc: GitLocation & { workTree: string }, diff: Buffer): Promise<{ conflicts: string[]; error?: string }> {
  const idx = await indexWorktree(loc, 'HEAD');
  try {
    if (idx.unsafeForGit) return { conflicts: [], error: `not applied: ${idx.problems.map((p) => p.why).join('; ')}` };
    await git(loc, ['update-index', '-q', '--refresh', '--ignore-submodules'], { env: idx.env, allowFail: true });
    const res = await git(loc, ['apply', '--3way', '--whitespace=nowarn', '-'], { input: diff, env: idx.env, allowFail: true });
    const conflicts = (await gitText(loc, ['diff', '--name-only', '-z', '--diff-filter=U'], { env: idx.env })).split('\0').filter((n) => n.length > 0);
    if (res.code !== 0 && conflicts.length === 0) return { conflicts, error: `git apply failed: ${res.stderr.trim().slice(0, 500)}` };
    return { conflicts };
  } finally {
    idx.dispose();
  }
}

function describe(records: readonly WorkerRecord[]): string {
  const lines = records.map((w) => {
    const cost = `${formatUsd(w.cost_micro)}${w.slice_micro !== null ? ` of a ${formatUsd(w.slice_micro)} slice` : ''}`;
    const files = w.files.length ? ` files: ${w.files.join(', ')}.` : '';
    const conflicts = w.conflicts.length ? ` CONFLICTS in ${w.conflicts.join(', ')}: resolve the conflict markers before proposing.` : '';
    return `- ${w.id} ${w.outcome} (${cost}): ${w.reason}.${files}${conflicts}`;
  });
  return `Workers finished; merged changes are in your worktree now.\n${lines.join('\n')}\nReview the result (git diff), fix what is needed, then propose or sleep.`;
}
