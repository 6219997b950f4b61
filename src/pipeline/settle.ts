import type { StoredEvent } from '../events/event.js';
import type { Trigger } from '../policy/schema.js';
import { matchTrigger } from './match.js';
import { quietBefore } from '../events/quiet-credit.js';

/** One trigger's coalesced burst, released after a quiet window. */
export interface SettledBatch {
  repo: string;
  trigger: Trigger;
  eventIds: number[];
  /** Repo-relative paths the batch touched (fs events, and git's own list for checkouts and merges), deduplicated. */
  paths: string[];
}

export interface SettleClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface SettleOptions {
  triggersFor(repo: string): readonly Trigger[];
  defaultSettleMs: number;
  /** Earliest time a trigger may fire again (its cool-down); 0 when it may fire now. */
  notBefore?(repo: string, trigger: Trigger): number;
  /**
   * True when a replayed event already sits in a stored batch of this trigger. Asked only for events
   * added with `{ replay: true }`: a live event was stored a moment ago and cannot be in any batch
   * yet, and asking the store per event per trigger was a large share of a busy folder's CPU.
   */
  alreadyBatched?(eventId: number, trigger: string): boolean;
  /** Must store the batch durably before returning. `settledIds` are events no other trigger still holds. */
  onBatch(batch: SettledBatch, settledIds: number[]): void;
  /** Events that matched no trigger at all are settled at once (the events themselves too, so nobody reads them back). */
  onSettled(ids: number[], events: StoredEvent[]): void;
  clock?: SettleClock;
  /**
   * How long a hold of this kind may keep a batch back; undefined holds until released (a git
   * operation). A storm hold defaults to STORM_HOLD_CEILING_MS, so a writer that never stops cannot
   * silence a repository's triggers: the batch is released as it stands and the next one begins.
   */
  holdCeilingMs?: (why: string) => number | undefined;
}

/** A storm may hold a batch back at most this long (twice the 30 s maximum wait). */
export const STORM_HOLD_CEILING_MS = 60_000;

const defaultCeiling = (why: string): number | undefined => (why === 'storm' ? STORM_HOLD_CEILING_MS : undefined);

interface Bucket {
  repo: string;
  trigger: Trigger;
  eventIds: number[];
  paths: Set<string>;
  firstAt: number;
  /** When the newest of its events happened, as far as the settler knows: its quiet window counts from here. */
  lastAt: number;
  /** When it is due to be released, as last scheduled. */
  due: number;
  /** The armed timer and when it fires (it may fire before `due`: a later event moved `due` on without re-arming it). */
  timer: unknown;
  timerAt: number;
}

const realClock: SettleClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => {
    if (isNodeTimer(h)) clearTimeout(h);
  },
};

/** The handles realClock.setTimeout gives out: Node's Timeout objects (anything else was never ours to clear). */
function isNodeTimer(h: unknown): h is NodeJS.Timeout {
  return typeof h === 'object' && h !== null && 'refresh' in h && 'hasRef' in h;
}

/**
 * Coalesces bursts into one batch per trigger after a quiet window (Watchman's "settle"), and holds
 * everything for a repository while a git operation is under way, releasing one batch when it ends.
 */
export class Settler {
  private readonly buckets = new Map<string, Bucket>();
  /** How many buckets still hold each event; it is settled when this reaches zero. */
  private readonly holders = new Map<number, number>();
  /** Why each repository is held (a git operation, a storm being recovered); released when none is left. */
  private readonly held = new Map<string, Set<string>>();
  private readonly clock: SettleClock;
  private stopped = false;

  constructor(private readonly opts: SettleOptions) {
    this.clock = opts.clock ?? realClock;
  }

  /** `replay`: events stored before this process started (they may already sit in a stored batch). */
  add(events: readonly StoredEvent[], o: { replay?: boolean } = {}): void {
    // Stopped (the daemon is shutting down): a watcher may still deliver while it closes. Those events
    // are stored and stay unsettled, so the next start replays them; a bucket made now would fire after
    // the store is closed (or, with a long settle_ms, keep the stopped process alive).
    if (this.stopped) return;
    const unmatched: StoredEvent[] = [];
    const touched = new Set<Bucket>();
    const now = this.clock.now();
    for (const e of events) {
      let matched = 0;
      for (const t of this.opts.triggersFor(e.repo)) {
        const m = matchTrigger(t, e);
        if (!m) continue;
        if (o.replay && this.opts.alreadyBatched?.(e.id, t.name)) continue;
        const b = this.bucket(e.repo, t);
        b.eventIds.push(e.id);
        for (const p of m.paths) b.paths.add(p);
        // A watcher that already waited for quiet before handing the event over says so (quiet-credit.ts).
        b.lastAt = Math.max(b.lastAt, now - quietBefore(e, t.settle_ms ?? this.opts.defaultSettleMs));
        this.holders.set(e.id, (this.holders.get(e.id) ?? 0) + 1);
        touched.add(b);
        matched++;
      }
      if (matched === 0) unmatched.push(e);
    }
    for (const b of touched) this.schedule(b, b.lastAt);
    if (unmatched.length) this.opts.onSettled(unmatched.map((e) => e.id), unmatched);
  }

  /** Something is under way in this repo (a git operation, a storm): nothing is released until `release(repo, why)`. */
  hold(repo: string, why: string): void {
    const reasons = this.held.get(repo) ?? new Set<string>();
    reasons.add(why);
    this.held.set(repo, reasons);
  }

  release(repo: string, why: string): void {
    const reasons = this.held.get(repo);
    if (!reasons?.delete(why)) return;
    if (!reasons.size) this.held.delete(repo);
    // Rescheduled even while other holds remain: a bounded one (a storm) may already be past its ceiling.
    for (const b of this.buckets.values()) if (b.repo === repo) this.schedule(b);
  }

  heldRepos(): Record<string, string[]> {
    return Object.fromEntries([...this.held].map(([repo, why]) => [repo, [...why]]));
  }

  pending(): Array<{ repo: string; trigger: string; events: number }> {
    return [...this.buckets.values()].map((b) => ({ repo: b.repo, trigger: b.trigger.name, events: b.eventIds.length }));
  }

  /** Forget a repository's pending buckets (it is no longer watched); its events stay unsettled and replay later. */
  dropRepo(repo: string): void {
    for (const [k, b] of this.buckets) {
      if (b.repo !== repo) continue;
      this.clock.clearTimeout(b.timer);
      this.buckets.delete(k);
    }
    this.held.delete(repo);
  }

  stop(): void {
    this.stopped = true;
    for (const b of this.buckets.values()) this.clock.clearTimeout(b.timer);
    this.buckets.clear();
  }

  private bucket(repo: string, trigger: Trigger): Bucket {
    const key = `${repo}\0${trigger.name}`;
    let b = this.buckets.get(key);
    if (!b) {
      b = { repo, trigger, eventIds: [], paths: new Set(), firstAt: this.clock.now(), lastAt: Number.NEGATIVE_INFINITY, due: 0, timer: undefined, timerAt: 0 };
      this.buckets.set(key, b);
    } else {
      b.trigger = trigger;
    }
    return b;
  }

  /**
   * `from`: the moment the quiet window counts from (the newest event's, or now after a release or a cool-down).
   * A steady stream moves a bucket's due time on with every event: the timer already armed is kept when
   * it fires no later than the new due time (fire() then waits for the rest), so a stream costs one timer
   * per settle window instead of a cleared and a new one per event.
   */
  private schedule(b: Bucket, from: number = this.clock.now()): void {
    const quiet = b.trigger.settle_ms ?? this.opts.defaultSettleMs;
    // A burst that never goes quiet (a log file written every 100 ms) still fires, at most this late.
    const maxWait = Math.max(30_000, quiet * 10);
    let due = Math.min(from + quiet, b.firstAt + maxWait);
    due = Math.max(due, this.opts.notBefore?.(b.repo, b.trigger) ?? 0);
    b.due = due;
    if (b.timer !== undefined && b.timerAt <= due) return;
    this.arm(b, due);
  }

  private arm(b: Bucket, at: number): void {
    this.clock.clearTimeout(b.timer);
    b.timerAt = at;
    b.timer = this.clock.setTimeout(() => {
      b.timer = undefined;
      this.fire(b);
    }, Math.max(0, at - this.clock.now()));
  }

  /** When a held bucket may go anyway: never while an unbounded hold (a git operation) is on, else at its oldest ceiling. */
  private heldUntil(b: Bucket): number {
    const reasons = this.held.get(b.repo);
    if (!reasons) return 0;
    let until = 0;
    for (const why of reasons) {
      const ceiling = (this.opts.holdCeilingMs ?? defaultCeiling)(why);
      if (ceiling === undefined) return Infinity;
      until = Math.max(until, b.firstAt + ceiling);
    }
    return until;
  }

  private fire(b: Bucket): void {
    // Armed for an earlier due time than the bucket has now (events came since): wait for the rest.
    if (b.due > this.clock.now()) return this.arm(b, b.due);
    const heldUntil = this.heldUntil(b);
    if (heldUntil === Infinity) return; // release() reschedules it
    if (heldUntil > this.clock.now()) return this.arm(b, heldUntil);
    const notBefore = this.opts.notBefore?.(b.repo, b.trigger) ?? 0;
    if (notBefore > this.clock.now()) return this.schedule(b);
    this.buckets.delete(`${b.repo}\0${b.trigger.name}`);
    const settled: number[] = [];
    for (const id of b.eventIds) {
      const left = (this.holders.get(id) ?? 1) - 1;
      if (left <= 0) {
        this.holders.delete(id);
        settled.push(id);
      } else this.holders.set(id, left);
    }
    this.opts.onBatch({ repo: b.repo, trigger: b.trigger, eventIds: b.eventIds, paths: [...b.paths].sort() }, settled);
  }
}
