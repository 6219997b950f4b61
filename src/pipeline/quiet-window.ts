/**
 * Gathers values per key until the key has been quiet for `ms`, then hands them over at once. The
 * ambient path uses it as its settle: what no trigger took is decided once a repository's burst is
 * over, not per watcher delivery — one save burst and the commit that follows it were two items
 * (two decisions, often two triage calls) when the watcher happened to report them apart.
 */
export class QuietWindow<V> {
  private readonly open = new Map<string, { values: V[]; timer: NodeJS.Timeout }>();

  constructor(
    private readonly ms: (key: string) => number,
    private readonly release: (key: string, values: V[]) => void,
  ) {}

  add(key: string, values: readonly V[]): void {
    const w = this.open.get(key);
    if (w) clearTimeout(w.timer);
    const next = { values: [...(w?.values ?? []), ...values], timer: setTimeout(() => this.flush(key), this.ms(key)) };
    this.open.set(key, next);
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
