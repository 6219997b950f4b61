/** Events closer together than this belong to one burst: above @parcel/watcher's 500 ms batching under a continuous stream. */
export const BURST_QUIET_MS = 1000;
/** A burst becomes a storm (large enough to overflow the kernel's queue) at this many events ... */
export const STORM_EVENTS = 1000;
/** ... arriving at least this fast (events per second): a steady writer (a log, 20 writes/s) never is one. */
export const STORM_RATE = 200;

export interface BurstOptions {
  /** A storm began: the caller holds settle so the storm and its recovery make one batch. */
  onStorm(): void;
  /** The burst went quiet; `storm` says whether it was a storm (the caller then recovers what was missed). */
  onQuiet(storm: boolean): void;
  quietMs?: number;
}

/**
 * Groups a watcher's events into bursts and tells a storm (thousands of events a second: a checkout,
 * a generator, a large copy) from a steady stream. One per watched tree.
 */
export class BurstTracker {
  private since = 0;
  private count = 0;
  private storm = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: BurstOptions) {}

  get inStorm(): boolean {
    return this.storm;
  }

  note(events: number): void {
    const now = Date.now();
    if (!this.timer) {
      this.since = now;
      this.count = 0;
    }
    this.count += events;
    if (!this.storm && this.count >= STORM_EVENTS && this.count / Math.max(1, (now - this.since) / 1000) >= STORM_RATE) {
      this.storm = true;
      this.o.onStorm();
    }
    // One timer per burst, restarted per delivery (a new timer per event showed in a steady stream's profile).
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(() => this.quiet(), this.o.quietMs ?? BURST_QUIET_MS);
  }

  private quiet(): void {
    this.timer = undefined;
    const storm = this.storm;
    this.storm = false;
    this.o.onQuiet(storm);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
