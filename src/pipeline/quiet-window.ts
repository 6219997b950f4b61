/**
 * Gathers values per key until the key has been quiet for `ms`, then hands them over at once. The
 * ambient path uses it as its settle: what no trigger took is decided once a repository's burst is
 * over, not per watcher delivery — one save burst and the commit that follows it were two items
 * (two decisions, often two triage calls) when the watcher happened to report them apart.
 *
 * Like the trigger settle (settle.ts), a key that never goes quiet (a log written 20 times a second)
 * is still released, at most `maxWaitMs(quiet)` after its first value: without that bound a steady
 * writer held its values (and a growing array) forever and the ambient path never looked.
 */
export class QuietWindow<V> {
  private readonly open = new Map<string, { values: V[]; timer: NodeJS.Timeout; quietMs: number; dueBy: number }>();

  constructor(
    private readonly ms: (key: string) => number,
    private readonly release: (key: string, values: V[]) => void,
    private readonly maxWaitMs: (quietMs: number) => number = (quiet) => Math.max(30_000, quiet * 10),
  ) {}

  add(key: string, values: readonly V[]): void {
    const quietMs = this.ms(key);
    const now = Date.now();
    const w = this.open.get(key);
    if (!w) {
      const maxWait = this.maxWaitMs(quietMs);
      const wait = Math.min(quietMs, maxWait);
      this.open.set(key, { values: [...values], timer: setTimeout(() => this.flush(key), wait), quietMs: wait, dueBy: now + maxWait });
      return;
    }
    // In place: one value per watcher delivery at a steady stream, so a copy per add grew quadratically.
    for (const v of values) w.values.push(v);
    const wait = Math.min(quietMs, w.dueBy - now);
    if (wait === w.quietMs) {
      // The same window again: restarting the timer costs less than a new one per event.
      w.timer.refresh();
      return;
    }
    clearTimeout(w.timer);
    w.quietMs = wait;
    w.timer = setTimeout(() => this.flush(key), Math.max(0, wait));
  }

  /** Hands over what `key` holds now. */
  flush(key: string): void {
    const w = this.open.get(key);
    if (!w) return;
    clearTimeout(w.timer);
    this.open.delete(key);
    this.release(key, w.values);
  }

  /** Keys holding values. */
  size(): number {
    return this.open.size;
  }

  /** Drops everything held, timers included (the daemon is stopping: like the tick queue's items, nothing was decided about them yet). */
  clear(): void {
    for (const w of this.open.values()) clearTimeout(w.timer);
    this.open.clear();
  }
}
