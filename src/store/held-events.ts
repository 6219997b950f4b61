import type { EventDraft } from '../events/event.js';

/** Events that could not be stored yet, with the write that must commit with them (a git state). */
export interface HeldWrite {
  drafts: EventDraft[];
  alsoInTransaction?: (() => void) | undefined;
}

export const DEFAULT_HELD_EVENTS = 100_000;

/**
 * Events held in memory, in arrival order, while the store cannot be written (a full disk). Bounded:
 * past `max` the oldest file events are dropped and counted. Git, cron and manual events are never
 * dropped: they are few, and a file event lost to the bound is seen again by the next change to that
 * file (or a start's offline scan), while a commit or a poke would not come again.
 */
export class HeldEvents {
  private queue: HeldWrite[] = [];
  /** Index of the oldest write still held: the front is consumed without shifting the array each time. */
  private head = 0;
  private size = 0;
  private droppedFiles = 0;

  constructor(private readonly max = DEFAULT_HELD_EVENTS) {}

  get count(): number {
    return this.size;
  }

  /** File events dropped to keep the bound, since the store last became writable. */
  get dropped(): number {
    return this.droppedFiles;
  }

  get empty(): boolean {
    return this.head >= this.queue.length;
  }

  push(w: HeldWrite): void {
    if (!w.drafts.length && !w.alsoInTransaction) return;
    this.queue.push({ drafts: [...w.drafts], alsoInTransaction: w.alsoInTransaction });
    this.size += w.drafts.length;
    if (this.size > this.max) this.dropOldestFileEvents(this.size - this.max);
  }

  /** The oldest writes, up to about `maxEvents` events (never splitting one write); they stay held until `done`. */
  peek(maxEvents: number): HeldWrite[] {
    const out: HeldWrite[] = [];
    let n = 0;
    for (let i = this.head; i < this.queue.length; i++) {
      const w = this.queue[i]!;
      if (out.length && n + w.drafts.length > maxEvents) break;
      out.push(w);
      n += w.drafts.length;
    }
    return out;
  }

  /** The first `writes` writes were stored. */
  done(writes: number): void {
    for (let i = 0; i < writes && !this.empty; i++) this.size -= this.queue[this.head++]!.drafts.length;
    this.compact();
  }

  /** Starts a new count of dropped events (the store is writable again and the loss was reported). */
  resetDropped(): number {
    const n = this.droppedFiles;
    this.droppedFiles = 0;
    return n;
  }

  private dropOldestFileEvents(excess: number): void {
    for (let i = this.head; i < this.queue.length && excess > 0; i++) {
      const w = this.queue[i]!;
      const before = w.drafts.length;
      w.drafts = w.drafts.filter((d) => {
        if (excess <= 0 || !d.type.startsWith('file.')) return true;
        excess--;
        return false;
      });
      const gone = before - w.drafts.length;
      this.size -= gone;
      this.droppedFiles += gone;
    }
    // Writes left with no events and nothing to commit are gone; one with a git state still commits it.
    while (!this.empty && !this.queue[this.head]!.drafts.length && !this.queue[this.head]!.alsoInTransaction) this.head++;
    this.compact();
  }

  private compact(): void {
    if (this.empty) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
