import { trustStatus } from '../policy/trust.js';
import crypto from 'node:crypto';
import type { Db } from '../store/db.js';
import type { Policy, Trigger } from '../policy/schema.js';
import { estimateInputTokens, minTokensFor, type ModelClient } from '../model/client.js';
import type { Origin } from '../model/ledger.js';
import { formatUsd, usdToMicro } from '../model/prices.js';
import { commandFinishedSince as commandFinishedSinceIso, taskFailedSince } from '../store/recent-activity.js';
import { lastLook, recordDecision, type DecisionOutcome, type DecisionSource, type DecisionStage } from '../store/decision-store.js';
import { higherPriority, type Priority } from './priority-queue.js';
import { allowance, type PresenceMode } from './presence.js';
import { memoryFor } from './memory.js';
import { isDocumentation, onlyDocumentation } from './doc-paths.js';
import { isLockFile } from './path-kinds.js';
import { pathDigest, type LookMemory } from './look-memory.js';
import { nothingToCheck } from './nothing-to-check.js';
import { lookEveryMs, lookWait } from './look-backoff.js';
import { buildTriageContext, buildTriagePrompt, runTriage, TRIAGE_MAX_TOKENS, type TriageContext } from './triage.js';

/**
 * The decide stage of the tick loop: for one item of the tick queue (a trigger's settled batch, a
 * cron tick, a poke, or ambient events no trigger took), the cheapest step that can settle it does:
 *
 *   1. rules      the item came from a trigger with run/ask: the policy already says what to do.
 *   2. heuristics no model: the content is what a model last looked at → sleep; the user is
 *                 editing and the item is routine → later; model steps off or money low → sleep.
 *   3. triage     one call to the cheap model, answering {act, why, task?, urgency} (src/pipeline/triage.ts);
 *                 an unusable answer is "don't act".
 *   4. action     triage said act: the decision carries the task for the agent.
 *
 * Sleeping is the expected, common outcome and costs at most the triage call. Every decision is
 * written to the `decisions` table and returned, for the daemon's daily log.
 */

export type { DecisionOutcome, DecisionSource, DecisionStage };

/** One item of the tick queue. Build it with `tickItem`. */
export interface TickItem {
  repo: string;
  source: DecisionSource;
  /** The policy trigger the item came from (batches, cron ticks, a poke naming a trigger). */
  trigger?: Pick<Trigger, 'name' | 'run' | 'ask'> | undefined;
  eventIds: number[];
  batchId?: number | undefined;
  /** Repository-relative paths changed, deduplicated. */
  paths: string[];
  /** The distinct event types, e.g. ['file.changed', 'git.commit']. */
  eventTypes: string[];
  /** sha256 over the changed files' contents (see contentHash). */
  contentHash: string;
  /** How urgent the item is before anyone looked: its queue priority (see itemUrgency). */
  urgency: Priority;
  /** A poke's note: what the user asked for. */
  note?: string | undefined;
  at: number;
}

export interface Decision {
  /** Row id in `decisions`. */
  id: number;
  repo: string;
  at: number;
  stage: DecisionStage;
  outcome: DecisionOutcome;
  why: string;
  /** Triage's urgency when a model answered, else the item's. */
  urgency?: Priority | undefined;
  /** For outcome 'act': the instruction for the agent. */
  task?: string | undefined;
  /** What this decision cost (the triage call, if one was made), in µ$. */
  costMicro: number;
  model?: string | undefined;
  contentHash: string;
  mode: PresenceMode;
  /** How long a command started for this decision may hold the tick (withTickBudget). */
  tickBudgetMs: number;
  /** For outcome 'later' held by the look back-off: when it may be decided (epoch ms); the daemon wakes parked work then. */
  retryAt?: number | undefined;
}

export interface DecideDeps {
  db: Db;
  model: ModelClient;
  /** The repository's effective policy. */
  policy: Policy;
  /** KAIROS_HOME, for the repository's memory. */
  home: string;
  /** Absent: the user counts as away (nobody to interrupt). */
  presence?: { mode(now: number): PresenceMode } | undefined;
  clock?: (() => number) | undefined;
  /** Override how the triage context is gathered (default: from the store and MEMORY.md). */
  context?: ((item: TickItem, mode: PresenceMode) => TriageContext) | undefined;
  /** Files a model already looked at, one by one (absent: only the last look as a whole counts). */
  looks?: LookMemory | undefined;
}

/** Before anyone looks: a user's request is `now`, a git operation `next`, saves and cron `later`. */
export function itemUrgency(source: DecisionSource, eventTypes: readonly string[]): Priority {
  if (source === 'poke') return 'now';
  return eventTypes.some((t) => t.startsWith('git.')) ? 'next' : 'later';
}

/**
 * sha256 over the sorted paths and what each holds now (a missing file hashes as absent). Two items
 * with the same hash changed the same files to the same contents. `extra` folds in anything else
 * that should make an item new (e.g. HEAD after a commit that changed no watched file).
 */
export function contentHash(repoDir: string, paths: readonly string[], extra = ''): string {
  const h = crypto.createHash('sha256');
  for (const p of [...new Set(paths)].sort()) h.update(p).update('\0').update(pathDigest(repoDir, p)).update('\0');
  return h.update(extra).digest('hex');
}

export interface TickItemInput {
  repo: string;
  source: DecisionSource;
  trigger?: Pick<Trigger, 'name' | 'run' | 'ask'> | undefined;
  events: ReadonlyArray<{ id: number; type: string; path?: string | undefined }>;
  /** Extra paths (a batch's own list, git's changed paths); events' paths are always included. */
  paths?: readonly string[] | undefined;
  batchId?: number | undefined;
  note?: string | undefined;
  at: number;
  /** See contentHash. */
  extra?: string | undefined;
}

/** Builds a tick item, hashing the changed files under `repoDir` (the repository's top folder). */
export function tickItem(input: TickItemInput, repoDir: string = input.repo): TickItem {
  const paths = [...new Set([...(input.paths ?? []), ...input.events.flatMap((e) => (e.path ? [e.path] : []))])];
  const eventTypes = [...new Set(input.events.map((e) => e.type))];
  return {
    repo: input.repo,
    source: input.source,
    trigger: input.trigger,
    eventIds: input.events.map((e) => e.id),
    batchId: input.batchId,
    paths,
    eventTypes,
    contentHash: contentHash(repoDir, paths, `${eventTypes.filter((t) => t.startsWith('git.')).join(',')}\0${input.extra ?? ''}`),
    urgency: itemUrgency(input.source, eventTypes),
    note: input.note,
    at: input.at,
  };
}

/** Ambient items of one repository coalesce in the queue (a storm of saves is one decision). */
export function tickKey(item: TickItem): string | undefined {
  return item.source === 'ambient' ? `ambient:${item.repo}` : undefined;
}

/**
 * Two queued items of one repository as one. The hash is recomputed by `rehash` when given (the
 * daemon passes `(paths) => contentHash(repoDir, paths)`), else combined from both.
 */
export function mergeTickItems(older: TickItem, newer: TickItem, rehash?: (paths: string[]) => string): TickItem {
  const paths = [...new Set([...older.paths, ...newer.paths])];
  return {
    ...newer,
    eventIds: [...new Set([...older.eventIds, ...newer.eventIds])],
    paths,
    eventTypes: [...new Set([...older.eventTypes, ...newer.eventTypes])],
    contentHash: rehash ? rehash(paths) : crypto.createHash('sha256').update(`${older.contentHash}\0${newer.contentHash}`).digest('hex'),
    urgency: higherPriority(older.urgency, newer.urgency),
    at: Math.min(older.at, newer.at),
  };
}

interface Verdict {
  stage: DecisionStage;
  outcome: DecisionOutcome;
  why: string;
  urgency?: Priority | undefined;
  task?: string | undefined;
  costMicro?: number | undefined;
  model?: string | undefined;
  looked?: boolean | undefined;
  retryAt?: number | undefined;
}

/** Decides one item (see the module comment), records the decision, and returns it. */
export async function decide(item: TickItem, deps: DecideDeps): Promise<Decision> {
  const now = (deps.clock ?? Date.now)();
  const mode = deps.presence?.mode(now) ?? 'away';
  const verdict = await stages(item, deps, mode, now);
  const row = {
    repo: item.repo,
    at: now,
    source: item.source,
    eventIds: item.eventIds,
    batchId: item.batchId,
    trigger: item.trigger?.name,
    stage: verdict.stage,
    outcome: verdict.outcome,
    why: verdict.why,
    urgency: verdict.urgency ?? item.urgency,
    task: verdict.task,
    model: verdict.model,
    costMicro: verdict.costMicro ?? 0,
    contentHash: item.contentHash,
    looked: verdict.looked ?? false,
  };
  const id = recordDecision(deps.db, row);
  if (row.looked && item.paths.length) deps.looks?.remember(item.repo, item.paths);
  return {
    id,
    repo: row.repo,
    at: now,
    stage: row.stage,
    outcome: row.outcome,
    why: row.why,
    urgency: row.urgency,
    task: row.task,
    costMicro: row.costMicro,
    model: row.model,
    contentHash: row.contentHash,
    mode,
    tickBudgetMs: allowance(mode).tickBudgetMs,
    retryAt: verdict.retryAt,
  };
}

async function stages(item: TickItem, deps: DecideDeps, mode: PresenceMode, now: number): Promise<Verdict> {
  // 1. rules
  const t = item.trigger;
  if (t && (t.run || t.ask)) {
    const what = [t.run ? `runs \`${t.run}\`` : '', t.ask ? 'asks the agent' : ''].filter(Boolean).join(' and ');
    return { stage: 'rules', outcome: 'rules', why: `trigger '${t.name}' ${what}` };
  }

  // 2. heuristics. A poke is the user asking for a look: it skips "nothing changed" and the
  // back-off for editing (the user is not interrupted by what they asked for).
  const userAsked = item.source === 'poke';
  const look = lastLook(deps.db, item.repo);
  if (!userAsked && look?.contentHash === item.contentHash) {
    return { stage: 'heuristic', outcome: 'sleep', why: 'nothing changed since the last look (same content)' };
  }
  // Prose and pictures give an agent nothing to check or repair (src/pipeline/doc-paths.ts).
  if (!userAsked && onlyDocumentation(item.paths)) {
    return { stage: 'heuristic', outcome: 'sleep', why: 'only documentation changed: nothing for an agent to check' };
  }
  // A lock file is a package manager's output: alone, or with prose, it says nothing the next build
  // would not (src/pipeline/path-kinds.ts).
  const substantive = item.paths.filter((p) => !isDocumentation(p) && !isLockFile(p));
  if (!userAsked && item.paths.length && !substantive.length) {
    return { stage: 'heuristic', outcome: 'sleep', why: "only lock files or documentation changed: a package manager's output" };
  }
  // The same files regrouped — the saves parked while the user typed, after their commit was looked
  // at — are nothing new, unless a rule's command finished since (its result is news). Documentation
  // and lock files beside them add nothing a model would act on either (the two rules above).
  if (!userAsked && deps.looks?.covers(item.repo, substantive) && !commandFinishedSince(deps.db, item.repo, look?.at ?? 0)) {
    const why = substantive.length < item.paths.length ? 'nothing new but documentation or lock files since a model looked' : 'nothing changed since a model looked at these files';
    return { stage: 'heuristic', outcome: 'sleep', why };
  }
  // A rule's command failing since the last look makes the next save no longer routine: that is
  // exactly when a prepared fix helps, and waiting for the user to step away often means they
  // fixed it by hand meanwhile (bench/replay showed it: recall 50% → 75% on the labelled day).
  // A commit while the user goes on typing is routine too: looked at once, with the saves around
  // it, when they step away (replayed histories: a look per commit became a look per session).
  const failed = !userAsked && failedSince(deps.db, item.repo, look?.at ?? 0);
  if (!userAsked && allowance(mode).deferRoutine && item.urgency !== 'now' && !failed) {
    return { stage: 'heuristic', outcome: 'later', why: 'you are editing: routine work waits until you step away' };
  }
  // Looks that keep finding nothing come less often (src/pipeline/look-backoff.ts).
  const wait = userAsked || failed ? undefined : lookWait(deps.db, item.repo, lookEveryMs(deps.policy), now);
  if (wait) {
    const looks = wait.quietLooks === 1 ? 'the last look' : `the last ${wait.quietLooks} looks`;
    return { stage: 'heuristic', outcome: 'later', why: `${looks} found nothing to do: the next waits a while`, retryAt: wait.until };
  }
  // What the diff says, read only now that a look would be made: generated files, reformatting,
  // comments, version bumps (src/pipeline/nothing-to-check.ts). Not when a command's result is news.
  if (!userAsked && !failed && !commandFinishedSince(deps.db, item.repo, look?.at ?? 0)) {
    const why = await nothingToCheck(deps.db, item, substantive);
    if (why) return { stage: 'heuristic', outcome: 'sleep', why };
  }
  const { model, policy } = deps;
  if (!model.modelStepsEnabled) return { stage: 'heuristic', outcome: 'sleep', why: model.disabledReason ?? 'model steps are off' };
  // A trusted repository whose pinned policy or hook files changed gets no model work, triage included.
  if (trustStatus(deps.db, item.repo) === 'changed') {
    return { stage: 'heuristic', outcome: 'sleep', why: `model work is paused: the repository's policy or hook files changed since you trusted it (kairos trust ${item.repo})` };
  }
  if (policy.triage?.enabled === false) {
    return { stage: 'heuristic', outcome: 'sleep', why: 'model steps are off: triage is disabled in the policy (only rules run)' };
  }
  const triageModel = policy.models?.triage;
  if (!triageModel) return { stage: 'heuristic', outcome: 'sleep', why: 'model steps are off: the policy names no models.triage' };
  const paused = model.paused();
  if (paused) return { stage: 'heuristic', outcome: 'sleep', why: `budget low: only rules (${paused.reason})` };

  const ctx =
    deps.context?.(item, mode) ??
    buildTriageContext(deps.db, {
      item: { repo: item.repo, source: item.source, trigger: item.trigger?.name, eventTypes: item.eventTypes, paths: item.paths, note: item.note, eventIds: item.eventIds },
      policy,
      mode,
      memory: memoryFor(deps.home, item.repo),
    });
  // The ledger would refuse anyway, but only after asking the API to count tokens; checking here
  // with the local (conservative) estimate keeps a broke tick entirely off the network.
  // The smallest triage call worth making: max_tokens is lowered toward this floor when money is short.
  const minTokens = Math.min(TRIAGE_MAX_TOKENS, minTokensFor('triage', policy.budget));
  const left = model.ledger.leftMicro(now);
  if (left !== undefined) {
    const worst = model.ledger.quote(triageModel, estimateInputTokens(buildTriagePrompt(ctx)), minTokens);
    const reserve = usdToMicro(policy.triage?.reserve_usd ?? 0);
    if (left < worst + reserve) {
      return {
        stage: 'heuristic',
        outcome: 'sleep',
        why: `budget low: only rules (${formatUsd(left)} left${reserve ? `, ${formatUsd(reserve)} kept for your own requests` : ''}; triage needs up to ${formatUsd(worst)})`,
      };
    }
  }

  // 3. triage
  const r = await runTriage(model, { model: triageModel, ctx, repo: item.repo, trigger: item.trigger?.name, origin: originOf(item), minTokens });
  if (r.status === 'skipped') return { stage: 'heuristic', outcome: 'sleep', why: `budget low: only rules (${r.reason})` };
  if (r.status !== 'answered') {
    return { stage: 'triage', outcome: 'sleep', why: `no usable triage answer, not acting: ${r.reason}`, costMicro: r.costMicro, model: r.model, looked: r.status === 'invalid' };
  }
  const a = r.answer;
  if (!a.act) return { stage: 'triage', outcome: 'sleep', why: a.why, urgency: a.urgency, costMicro: r.costMicro, model: r.model, looked: true };

  // 4. action: the daemon turns the task into an agent task (which proposes; a human applies).
  return { stage: 'action', outcome: 'act', why: a.why, urgency: a.urgency, task: a.task, costMicro: r.costMicro, model: r.model, looked: true };
}

/**
 * Did a rule's command of this repository finish after `since` (epoch ms)? Its result (tests ran)
 * is news about the files. An agent task's own end is not: it proposed, or found nothing, about
 * what was already looked at.
 */
function commandFinishedSince(db: Db, repo: string, since: number): boolean {
  return commandFinishedSinceIso(db, repo, new Date(since).toISOString());
}

/** Who a tick item's model call is for: the user's poke is attended; a trigger's item or ambient changes are not. */
export function originOf(item: Pick<TickItem, 'source' | 'trigger'>): Origin {
  if (item.source === 'poke') return 'poke';
  return item.trigger ? 'trigger' : 'ambient';
}

/** Did a command of this repository fail after `since` (epoch ms)? Task times are ISO strings in UTC. */
function failedSince(db: Db, repo: string, since: number): boolean {
  return taskFailedSince(db, repo, new Date(since).toISOString());
}

/** The daily-log line for a decision: "slept: why", "acted: why, $cost", ... */
export function describeDecision(d: Pick<Decision, 'outcome' | 'why' | 'costMicro' | 'task'>): string {
  const cost = d.costMicro > 0 ? `, ${formatUsd(d.costMicro)}` : '';
  switch (d.outcome) {
    case 'act':
      return `acted: ${d.why}${cost}${d.task ? `\ntask: ${d.task}` : ''}`;
    case 'sleep':
      return `slept: ${d.why}${cost}`;
    case 'later':
      return `later: ${d.why}`;
    case 'rules':
      return `rules: ${d.why}`;
  }
}

export type TickBudgetResult<T> = { status: 'done'; value: T } | { status: 'error'; error: unknown } | { status: 'later' };
export type LateResult<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Keeps the tick moving: waits up to `ms` (15 s on the tick path while the user is active) for
 * `work`. If it is still running then, returns 'later' at once and lets it run on in the
 * background; `onLate` gets its result when it finishes, so the daemon can report it then. The
 * work is never cancelled here: a check half-run is money spent for nothing.
 */
export function withTickBudget<T>(work: Promise<T>, ms: number, onLate: (result: LateResult<T>) => void): Promise<TickBudgetResult<T>> {
  return new Promise((resolve) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      resolve({ status: 'later' });
    }, ms);
    work.then(
      (value) => {
        if (!late) {
          clearTimeout(timer);
          resolve({ status: 'done', value });
        } else onLate({ ok: true, value });
      },
      (error: unknown) => {
        if (!late) {
          clearTimeout(timer);
          resolve({ status: 'error', error });
        } else onLate({ ok: false, error });
      },
    );
  });
}
