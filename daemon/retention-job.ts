import type { Db } from '../src/store/db.js';
import type { EventStore } from '../src/store/event-store.js';
import { oldestRows, pruneStore, RETENTION_DEFAULTS, type PruneResult, type RetentionSettings } from '../src/store/retention.js';
import type { Policy } from '../src/policy/schema.js';
import type { Logger } from '../src/report/logger.js';
import { messageOf } from '../src/core/errors.js';

export interface RetentionRun extends PruneResult {
  /** The newest event id when the prune began and when it ended: events between them arrived while it ran. */
  max_event_id_before: number;
  max_event_id_after: number;
}

const FIRST_RUN_MS = 60_000;
const DAY_MS = 86_400_000;
/** Idle time between prune transactions, per unit of time the last one took. */
const IDLE_PER_BUSY = 2;
const EVERY_MS = 6 * 3_600_000;

export function retentionSettings(p: Policy): RetentionSettings {
  return {
    events_days: p.retention?.events_days ?? RETENTION_DEFAULTS.events_days,
    tasks_days: p.retention?.tasks_days ?? RETENTION_DEFAULTS.tasks_days,
  };
}

/**
 * Prunes the store a minute after start (when it holds rows old enough) and every six hours, off the watcher's path: small
 * transactions with the event loop left idle between them. One run at a time.
 */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionRun> | undefined;
  private stopped = false;

  constructor(
    private readonly o: {
      db: Db;
      events: EventStore;
      settings(): RetentionSettings;
      log: Logger;
      /** A prune must not write while the disk is full (the store guard is holding events). */
      storeWritable(): boolean;
    },
  ) {}

  start(): void {
    const schedule = (ms: number): void => {
      this.timer = setTimeout(() => {
        if (this.stopped) return;
        // Fire-and-forget from a timer, so nothing awaits it: a failure (a busy store while reading the
        // event ids) is logged here, or it would be an unhandled rejection, which stops the daemon.
        void this.run()
          .catch((e: unknown) => this.o.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'retention: run failed; tried again at the next run'))
          .finally(() => !this.stopped && schedule(EVERY_MS));
      }, ms);
      this.timer.unref();
    };
    schedule(this.firstRunInMs(Date.now()));
  }

  /**
   * A minute after start when the store may hold rows past retention; otherwise not before the oldest
   * row can be (at most six hours away, like every later run). A fresh or young store, the common case,
   * costs no run right after start.
   */
  firstRunInMs(now: number): number {
    const s = this.o.settings();
    const time = (at: string | undefined): number => (at === undefined ? Infinity : Date.parse(at));
    try {
      const oldest = oldestRows(this.o.db);
      const due = Math.min(time(oldest.eventAt) + s.events_days * DAY_MS, time(oldest.taskCreatedAt) + s.tasks_days * DAY_MS);
      return Number.isNaN(due) ? FIRST_RUN_MS : Math.min(EVERY_MS, Math.max(FIRST_RUN_MS, due - now));
    } catch {
      // The store cannot answer now: prune soon rather than guess; that run logs its own failure.
      return FIRST_RUN_MS;
    }
  }

  /** Runs a prune now (or joins the one under way). Never rejects: a failure is logged and returned as zero work. */
  run(): Promise<RetentionRun> {
    this.running ??= this.prune().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private async prune(): Promise<RetentionRun> {
    const settings = this.o.settings();
    const maxId = (): number => this.o.events.maxId();
    const before = maxId();
    let r: PruneResult = { events: 0, tasks: 0, batches: 0, vacuumed_pages: 0, chunks: 0, longest_chunk_ms: 0, ms: 0, cancelled: false };
    if (this.o.storeWritable()) {
      this.o.log.info({ ...settings, max_event_id: before }, 'retention: pruning old events and tasks');
      try {
        // Between two transactions the loop is left idle twice as long as the last one took: the watcher's
        // callbacks, settle timers and the task runner find it free two times in three, so an event's way
        // to its task is barely slower while a big prune runs (measured in bench/store.ts --prune).
        let lastChunkMs = 0;
        r = await pruneStore(this.o.db, settings, {
          now: new Date(),
          onChunk: (_phase, ms) => (lastChunkMs = ms),
          pause: () => new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.round(lastChunkMs * IDLE_PER_BUSY)))),
          cancelled: () => this.stopped || !this.o.storeWritable(),
        });
      } catch (e) {
        // A full disk mid-prune (the deletes need WAL space) or a locked store: next time.
        this.o.log.warn({ err: messageOf(e) }, 'retention: prune failed; tried again at the next run');
        this.o.events.recount(); // some chunks may have committed before the failure
      }
      this.o.events.noteDeleted(r.events);
    }
    const run: RetentionRun = { ...r, max_event_id_before: before, max_event_id_after: maxId() };
    this.o.log.info(run, 'retention: done');
    return run;
  }
}
