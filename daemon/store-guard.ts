import type { EventDraft, StoredEvent } from '../src/events/event.js';
import type { Db } from '../src/store/db.js';
import type { EventStore } from '../src/store/event-store.js';
import { DEFAULT_HELD_EVENTS, HeldEvents } from '../src/store/held-events.js';
import { isDiskFull } from '../src/store/store-errors.js';
import type { Logger } from '../src/report/logger.js';
import { messageOf, asError } from '../src/core/errors.js';

export interface StoreGuardOptions {
  db: Db;
  events: EventStore;
  log: Logger;
  notify(title: string, body: string): void;
  /** Events that reached the store (now, or later from the hold), in order: the pipeline takes them from here. */
  onStored(events: StoredEvent[]): void;
  /** The store became writable again: e.g. queued tasks whose start could not be recorded get another go. */
  onRecovered?(): void;
  retryMs?: number;
  maxHeld?: number;
}

export interface StoreHealth {
  /** Why the store cannot be written now, or null. */
  degraded: 'disk full' | null;
  since: string | null;
  /** Events held in memory, waiting to be written. */
  held: number;
  /** Other writes (settled batches, settle marks) waiting. */
  waiting_writes: number;
  /** File events dropped because more than the bound were held. */
  dropped: number;
}

const DEFAULT_RETRY_MS = 2000;
/** Events written per transaction when the hold is flushed; the event loop is handed back in between. */
const FLUSH_CHUNK = 2000;

/**
 * Keeps the daemon running when `$KAIROS_HOME`'s disk is full. Events are held in memory (bounded), in
 * order; other store writes (a settled batch) wait behind them. A timer retries; when space returns all
 * of it is written in arrival order and the pipeline carries on. Errors other than a full disk pass
 * through untouched.
 */
export class StoreGuard {
  private readonly held: HeldEvents;
  private readonly waiting: Array<{ what: string; write: () => void }> = [];
  private since: Date | null = null;
  private timer: NodeJS.Timeout | undefined;
  private flushing = false;
  private readonly retryMs: number;
  private readonly maxHeld: number;

  /** Made once: a steady stream stores one event per call (see EventStore). */
  private readonly storeTx: (drafts: EventDraft[], alsoInTransaction: (() => void) | undefined) => StoredEvent[];

  constructor(private readonly o: StoreGuardOptions) {
    this.storeTx = o.db.transaction((drafts: EventDraft[], alsoInTransaction: (() => void) | undefined) => {
      const rows = drafts.length ? o.events.appendMany(drafts) : [];
      alsoInTransaction?.();
      return rows;
    });
    this.maxHeld = o.maxHeld ?? DEFAULT_HELD_EVENTS;
    this.held = new HeldEvents(this.maxHeld);
    this.retryMs = o.retryMs ?? DEFAULT_RETRY_MS;
  }

  get degraded(): boolean {
    return this.since !== null;
  }

  /**
   * Stores events (and `alsoInTransaction`, in the same transaction) and returns them; while the store
   * cannot be written they are held instead and [] is returned: they reach `onStored` once written.
   */
  write(drafts: EventDraft[], alsoInTransaction?: () => void): StoredEvent[] {
    if (this.degraded) {
      this.held.push({ drafts, alsoInTransaction });
      return [];
    }
    try {
      return this.store(drafts, alsoInTransaction);
    } catch (e) {
      if (!isDiskFull(e)) throw e;
      this.held.push({ drafts, alsoInTransaction });
      this.degrade(asError(e));
      return [];
    }
  }

  /** Runs another store write now, or — the disk being full — later, after the held events, in order. */
  run(what: string, write: () => void): void {
    if (this.degraded) {
      this.waiting.push({ what, write });
      return;
    }
    try {
      write();
    } catch (e) {
      if (!isDiskFull(e)) throw e;
      this.waiting.push({ what, write });
      this.degrade(asError(e));
    }
  }

  health(): StoreHealth {
    return {
      degraded: this.degraded ? 'disk full' : null,
      since: this.since?.toISOString() ?? null,
      held: this.held.count,
      waiting_writes: this.waiting.length,
      dropped: this.held.dropped,
    };
  }

  /**
   * The daemon is stopping: one last try to write what is held. Returns how many events are still
   * unwritten (lost with this process: the caller exits non-zero).
   */
  stop(): number {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.degraded) this.flushNow();
    return this.held.count;
  }

  private store(drafts: EventDraft[], alsoInTransaction?: () => void): StoredEvent[] {
    try {
      return this.storeTx(drafts, alsoInTransaction);
    } catch (e) {
      this.o.events.recount(); // appendMany counted rows the enclosing transaction then rolled back
      throw e;
    }
  }

  private degrade(e: Error): void {
    if (this.degraded) return;
    this.since = new Date();
    const text = `the disk of the Kairos store is full (${e.message}); events are held in memory (up to ${this.maxHeld.toLocaleString('en')}) and written when space returns`;
    this.o.log.error({ err: e.message }, text);
    this.o.notify('Kairos: disk full', 'Events are held in memory and written when space returns. Free some space on the disk of $KAIROS_HOME.');
    this.timer = setInterval(() => void this.retry(), this.retryMs);
  }

  /** Writes what is held, a chunk per transaction, yielding between chunks so the watcher keeps flowing. */
  private async retry(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.flushStep()) await new Promise((r) => setImmediate(r));
    } finally {
      this.flushing = false;
    }
  }

  private flushNow(): void {
    while (this.flushStep());
  }

  /** One chunk; true when there is more to do now, false when done or the disk is still full. */
  private flushStep(): boolean {
    try {
      if (!this.held.empty) {
        const writes = this.held.peek(FLUSH_CHUNK);
        const stored = this.o.db.transaction(() => writes.flatMap((w) => this.store(w.drafts, w.alsoInTransaction)))();
        this.held.done(writes.length);
        if (stored.length) this.o.onStored(stored);
        return true;
      }
      const next = this.waiting[0];
      if (next) {
        next.write();
        this.waiting.shift();
        return true;
      }
    } catch (e) {
      this.o.events.recount(); // the chunk's transaction rolled back after appendMany counted its rows
      if (isDiskFull(e)) return false;
      // Not a full disk: this write will never succeed by waiting. Say so and move on.
      this.o.log.error({ err: messageOf(e) }, 'a held store write failed; dropped');
      if (!this.held.empty) this.held.done(1);
      else this.waiting.shift();
      return true;
    }
    this.recovered();
    return false;
  }

  private recovered(): void {
    if (!this.degraded) return;
    clearInterval(this.timer);
    this.timer = undefined;
    const heldFor = Math.round((Date.now() - this.since!.getTime()) / 1000);
    this.since = null;
    const dropped = this.held.resetDropped();
    const text = `the store is writable again after ${heldFor} s; every held event is written${dropped ? `, except ${dropped} file events dropped past the bound of ${this.maxHeld.toLocaleString('en')}` : ''}`;
    this.o.log.warn({ held_for_s: heldFor, dropped }, text);
    this.o.notify('Kairos: disk space is back', text);
    this.o.onRecovered?.();
  }
}
