import type { Db } from '../src/store/db.js';
import type { StoredEvent } from '../src/events/event.js';
import type { ModelClient } from '../src/model/client.js';
import type { Policy, Trigger } from '../src/policy/schema.js';
import { parseDuration } from '../src/policy/duration.js';
import type { Logger } from '../src/report/logger.js';
import type { TaskRow, TaskStore } from '../src/store/task-store.js';
import { contentHash, decide, describeDecision, originOf, tickItem, type Decision, type TickItem } from '../src/pipeline/decide.js';
import type { Origin } from '../src/model/ledger.js';
import { TickLoop } from '../src/pipeline/tick-loop.js';
import { allowance, AwayAlarm, Presence } from '../src/pipeline/presence.js';
import { dream, dreamSettings, scheduleDream, type DreamResult, type DreamSlot } from '../src/pipeline/dream.js';
import { LookMemory } from '../src/pipeline/look-memory.js';
import { QuietWindow } from '../src/pipeline/quiet-window.js';
import { ENGINE_DEFAULTS } from '../src/policy/schema.js';
import { changedPaths } from '../src/events/git-changed-paths.js';
import { messageOf } from '../src/core/errors.js';

/** The trigger name agent tasks started by ambient triage carry (it names no policy trigger). */
export const AMBIENT_TRIGGER = 'ambient';

/** The trigger an ambient task runs under: the instruction triage wrote, notifications on change. */
export function ambientTrigger(instruction: string): Trigger {
  return { name: AMBIENT_TRIGGER, on: { manual: true }, ask: instruction, notify: 'on_change', enabled: true };
}

/** The trigger of a queued ambient task: the instruction stored with it. */
export function ambientTaskTrigger(task: TaskRow): Trigger | undefined {
  const { instruction } = task.data;
  return instruction ? ambientTrigger(instruction) : undefined;
}

/** Triage said act: an agent task that can only propose (nothing is applied without approval). */
export function queueAmbientTask(tasks: TaskStore, repo: string, instruction: string, origin?: Origin): number {
  return tasks.createFollowUp({ repo, trigger: AMBIENT_TRIGGER, kind: 'agent', batchId: null, at: new Date().toISOString(), data: { instruction, ...(origin ? { origin } : {}) } });
}

export interface AmbientDeps {
  db: Db;
  home: string;
  model: ModelClient;
  log: Logger;
  userPolicy(): Policy;
  repoPolicy(repo: string): Policy | undefined;
  watchedRepos(): string[];
  lastTaskId(repo: string): number | undefined;
  /** Triage said act: queue an agent task with this instruction (it can only propose); origin 'poke' when the user asked. */
  act(repo: string, instruction: string, decision: Decision, origin: Origin): void;
  daily(text: string, repo?: string): void;
  /** The user just counted as away (after their last sign of presence): e.g. show held notifications. */
  steppedAway?(): void;
}

/**
 * Kairos mode: what no trigger handles goes through cheap heuristics, then (maybe) one triage call,
 * and only then an agent task. Sleeping is the common outcome. Also the presence signal and the
 * nightly dream that rewrites each repository's memory.
 */
export class Ambient {
  readonly presence: Presence;
  private readonly loop: TickLoop;
  private readonly lastLogged = new Map<string, string>();
  private readonly looks = new LookMemory();
  /** Wakes parked work when the look back-off lets the next look happen (the earliest such time). */
  private retryTimer: { at: number; timer: NodeJS.Timeout } | undefined;
  /** What no trigger took, per repository, until its burst is over (the policy's settle_ms). */
  private readonly settling: QuietWindow<StoredEvent>;
  private dreamJob: { stop(): void } | undefined;
  private stopped = false;
  /** Dreams run one after another (scheduled, caught up, on demand): a later request waits for an earlier one. */
  private dreamQueue: Promise<unknown> = Promise.resolve();
  private readonly awayAlarm: AwayAlarm;

  constructor(private readonly d: AmbientDeps) {
    this.settling = new QuietWindow(
      (repo) => d.repoPolicy(repo)?.defaults?.settle_ms ?? d.userPolicy().defaults?.settle_ms ?? ENGINE_DEFAULTS.settle_ms,
      (repo, evs) => this.offerSettled(repo, evs),
    );
    const away = d.userPolicy().presence?.away_after;
    this.presence = new Presence(away !== undefined ? { awayAfterMs: parseDuration(away) } : {});
    // Woken when the user's last sign of presence (their own file event, or a CLI use) ages past
    // away_after, not by a minute tick: a burst is always followed by its wake-up.
    this.awayAlarm = new AwayAlarm(this.presence, () => this.steppedAway());
    this.loop = new TickLoop({
      decide: (item) => {
        const policy = d.repoPolicy(item.repo);
        if (!policy) {
          // Not stored (id 0) and free: the repository went while the item waited.
          const gone: Decision = { id: 0, repo: item.repo, at: Date.now(), outcome: 'sleep', stage: 'heuristic', why: 'the repository is no longer watched', costMicro: 0, contentHash: item.contentHash, mode: this.presence.mode(), tickBudgetMs: 0 };
          return Promise.resolve(gone);
        }
        return decide(item, { db: d.db, model: d.model, policy, home: d.home, presence: this.presence, looks: this.looks });
      },
      onDecision: (decision, item) => this.onDecision(decision, item),
      rehash: (repo, paths) => contentHash(repo, paths, String(d.lastTaskId(repo) ?? '')),
      budgetMs: () => allowance(this.presence.mode()).tickBudgetMs,
      onLate: (item, r) => d.daily(`a decision for ${item.source} ran past its tick budget and ${r.ok ? 'finished' : 'failed'} in the background`, item.repo),
      onError: (err, item) => d.log.error({ repo: item.repo, err: messageOf(err) }, 'ambient decision failed'),
    });
  }

  /** Starts the dream's schedule, unless the daemon stopped before its watchers were ready. */
  start(): void {
    if (!this.stopped) this.restartDream();
  }

  stop(): void {
    this.stopped = true;
    this.dreamJob?.stop();
    this.settling.clear();
    if (this.retryTimer) clearTimeout(this.retryTimer.timer);
    this.awayAlarm.disarm();
  }

  /** The user counts as away now: parked items get their look, held notifications are shown. */
  private steppedAway(): void {
    if (this.loop.parked() > 0) {
      const n = this.loop.wake();
      this.d.log.info({ items: n }, 'you stepped away: deciding the work parked while you were editing');
    }
    this.d.steppedAway?.();
  }

  restartDream(): void {
    this.dreamJob?.stop();
    this.dreamJob = undefined;
    const s = dreamSettings(this.d.userPolicy());
    if (!s.enabled) return;
    try {
      this.dreamJob = scheduleDream(s.cron, this.d.db, (slot) => void this.dreamAll(this.d.watchedRepos(), { slot }), this.d.log);
    } catch (e) {
      this.d.log.error({ cron: s.cron, err: messageOf(e) }, 'the dream schedule could not start; no nightly dream until the policy is fixed');
    }
  }

  /**
   * `kairos dream`: dreams now for one watched repository (or all), past the 24 h gap. Waits for a
   * dream already running (the queue), so two requests never race for one repository's lock.
   */
  dreamNow(repo?: string): Promise<Array<DreamResult & { repo: string }>> {
    const watched = this.d.watchedRepos();
    if (repo !== undefined && !watched.includes(repo)) return Promise.reject(new Error(`${repo} is not watched; add it with 'kairos start --repo ${repo}'`));
    return this.dreamAll(repo !== undefined ? [repo] : watched, { onDemand: true });
  }

  private dreamAll(repos: readonly string[], how: { slot?: DreamSlot; onDemand?: boolean }): Promise<Array<DreamResult & { repo: string }>> {
    const run = async (): Promise<Array<DreamResult & { repo: string }>> => {
      const why = how.onDemand ? 'dream (on demand)' : how.slot?.catchUp ? `dream (catch-up of the ${how.slot.slot} run missed while the daemon was down)` : 'dream';
      if (how.slot?.catchUp) this.d.log.info({ slot: how.slot.slot }, 'dream: catching up a run missed while the daemon was down');
      const out: Array<DreamResult & { repo: string }> = [];
      for (const repo of repos) {
        const policy = this.d.repoPolicy(repo);
        if (!policy) continue;
        try {
          const r = await dream(repo, { db: this.d.db, model: this.d.model, home: this.d.home, policy, onDemand: how.onDemand });
          this.d.daily(r.status === 'done' ? `${why}: memory rewritten (${r.lines} lines)` : `${why} ${r.status}: ${r.reason}`, repo);
          out.push({ ...r, repo });
        } catch (e) {
          this.d.log.error({ repo, err: messageOf(e) }, 'dream failed');
          out.push({ status: 'failed', runId: -1, reason: messageOf(e), costMicro: 0, repo });
        }
      }
      return out;
    };
    const next = this.dreamQueue.then(run, run);
    this.dreamQueue = next.catch(() => undefined);
    return next;
  }

  /** The user's own file changes (never the daemon's) mark them present. */
  noteEvents(events: readonly StoredEvent[]): void {
    let seen = false;
    for (const e of events) {
      if (e.origin === 'user' && e.type.startsWith('file.')) {
        this.presence.noteFsActivity(Date.parse(e.at));
        seen = true;
      }
    }
    if (seen) this.awayAlarm.arm();
  }

  /** Items waiting for a decision (queued) and items deferred until the user steps away (parked). */
  pending(): { queued: number; parked: number } {
    return { queued: this.loop.queued() + this.settling.size(), parked: this.loop.parked() };
  }

  noteCliUse(): void {
    this.presence.noteCliUse();
    this.awayAlarm.arm();
  }

  /** Events no trigger took: one ambient look per repository once its burst is quiet (items of one repository also merge while queued). */
  offerUnmatched(events: readonly StoredEvent[]): void {
    const byRepo = new Map<string, StoredEvent[]>();
    // Pokes are offered as pokes (offerPoke), not as ambient changes.
    for (const e of events) if (e.origin === 'user' && e.type !== 'manual') byRepo.set(e.repo, [...(byRepo.get(e.repo) ?? []), e]);
    for (const [repo, evs] of byRepo) this.settling.add(repo, evs);
  }

  private offerSettled(repo: string, evs: readonly StoredEvent[]): void {
    this.loop.offer(
      tickItem({
        repo,
        source: 'ambient',
        events: evs.map((e) => ({ id: e.id, type: e.type, ...(e.path ? { path: e.path } : {}) })),
        paths: evs.flatMap((e) => gitEventPaths(repo, e)),
        at: Date.now(),
        extra: String(this.d.lastTaskId(repo) ?? ''),
      }),
    );
  }

  /** A poke without a trigger: the user asked Kairos to look now. */
  offerPoke(event: StoredEvent, note: string | undefined): void {
    this.loop.offer(tickItem({ repo: event.repo, source: 'poke', events: [{ id: event.id, type: event.type }], at: Date.parse(event.at), ...(note ? { note } : {}), extra: String(this.d.lastTaskId(event.repo) ?? '') }));
  }

  /** Parked work held by the look back-off gets its look at `at` (one timer: the earliest wins, the rest re-arm on their next decision). */
  private wakeAt(at: number): void {
    if (this.retryTimer && this.retryTimer.at <= at) return;
    if (this.retryTimer) clearTimeout(this.retryTimer.timer);
    const timer = setTimeout(() => {
      this.retryTimer = undefined;
      this.loop.wake();
    }, Math.max(0, at - Date.now()) + 1);
    timer.unref();
    this.retryTimer = { at, timer };
  }

  private onDecision(d: Decision, item: TickItem): void {
    if (d.outcome === 'later' && d.retryAt !== undefined) this.wakeAt(d.retryAt);
    // Parked while the user looked active, but they may have stepped away while it was being decided.
    else if (d.outcome === 'later' && this.presence.mode() === 'away') queueMicrotask(() => this.steppedAway());
    if (d.outcome === 'act' && d.task) this.d.act(d.repo, d.task, d, originOf(item));
    // The daily log gets what a human would want to read: model decisions, and changes of reason.
    if (d.outcome === 'later') return;
    const text = describeDecision(d);
    if (d.stage !== 'triage' && d.stage !== 'action' && this.lastLogged.get(d.repo) === d.why) return;
    this.lastLogged.set(d.repo, d.why);
    this.d.daily(text, d.repo);
  }
}

/**
 * The files a git event changed. A commit carries no path of its own, so without this every
 * commit-only item had the same content hash (the first was triaged, the next ones slept as
 * "nothing changed") and triage was told "Changed paths (0)". Checkouts, merges and pulls carry
 * git's list already (src/events/git-changed-paths.ts).
 */
function gitEventPaths(repo: string, e: StoredEvent): string[] {
  if (!e.type.startsWith('git.')) return [];
  const data: Record<string, unknown> = e.data;
  if (Array.isArray(data.paths)) return data.paths.filter((p): p is string => typeof p === 'string');
  if (e.type === 'git.commit' && typeof data.from === 'string' && typeof data.to === 'string') return changedPaths(repo, data.from, data.to) ?? [];
  return [];
}
