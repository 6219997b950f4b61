/**
 * The tick queue: what the decider looks at next. Three priorities, `now` > `next` > `later`,
 * first in first out within one. A user's own request (a poke, a CLI command) goes in as `now`, so
 * it is the next thing picked whatever ambient work is queued.
 *
 * Pre-emption is at pick time only: an ambient item already being decided (or its command already
 * running) is not killed — killing a half-run check wastes what it spent and can leave a worktree
 * half-written — but the moment it finishes, the consumer takes the user's item before any other.
 */

export const PRIORITIES = ['now', 'next', 'later'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** Lower is more urgent. */
export function priorityRank(p: Priority): number {
  return PRIORITIES.indexOf(p);
}

/** The more urgent of two priorities. */
export function higherPriority(a: Priority, b: Priority): Priority {
  return priorityRank(a) <= priorityRank(b) ? a : b;
}

export interface QueueOptions<T> {
  /**
   * Items with the same key are one item: pushing a second merges it into the queued one (a storm
   * of saves in one repository is one decision, not a thousand). Without `key` nothing merges.
   */
  key?: (item: T) => string | undefined;
  /** Combines a queued item with a newer one of the same key (default: the newer replaces it). */
  merge?: (older: T, newer: T) => T;
}

interface Slot<T> {
  item: T;
  key: string | undefined;
}

export class PriorityQueue<T> {
  private readonly lanes: Record<Priority, Array<Slot<T>>> = { now: [], next: [], later: [] };

  constructor(private readonly opts: QueueOptions<T> = {}) {}

  /**
   * Adds an item. A queued item with the same key is merged with it; the merged item keeps the
   * older one's place unless the new priority is higher, in which case it moves to the end of the
   * higher lane (it is now as urgent as the newcomer, and no more).
   */
  push(item: T, priority: Priority): void {
    const key = this.opts.key?.(item);
    if (key !== undefined) {
      for (const p of PRIORITIES) {
        const lane = this.lanes[p];
        const at = lane.findIndex((s) => s.key === key);
        if (at < 0) continue;
        const merged = this.opts.merge ? this.opts.merge(lane[at]!.item, item) : item;
        if (priorityRank(priority) < priorityRank(p)) {
          lane.splice(at, 1);
          this.lanes[priority].push({ item: merged, key });
        } else {
          lane[at] = { item: merged, key };
        }
        return;
      }
    }
    this.lanes[priority].push({ item, key });
  }

  /** The most urgent item, oldest first within its priority; undefined when empty. */
  take(): { item: T; priority: Priority } | undefined {
    for (const p of PRIORITIES) {
      const slot = this.lanes[p].shift();
      if (slot) return { item: slot.item, priority: p };
    }
    return undefined;
  }

  peek(): { item: T; priority: Priority } | undefined {
    for (const p of PRIORITIES) {
      const slot = this.lanes[p][0];
      if (slot) return { item: slot.item, priority: p };
    }
    return undefined;
  }

  size(priority?: Priority): number {
    return priority ? this.lanes[priority].length : PRIORITIES.reduce((n, p) => n + this.lanes[p].length, 0);
  }

  /** Moves every item of one priority to the end of another (e.g. `later` → `next` when the user steps away). */
  promote(from: Priority, to: Priority): number {
    const moved = this.lanes[from].splice(0);
    for (const s of moved) this.push(s.item, to);
    return moved.length;
  }

  /** Removes and returns every item of one priority, oldest first. */
  drain(priority: Priority): T[] {
    return this.lanes[priority].splice(0).map((s) => s.item);
  }
}

export interface SerialConsumerOptions<T> {
  queue: PriorityQueue<T>;
  /** Handles one item; the next is not taken until this settles. */
  handle: (item: T, priority: Priority) => Promise<void>;
  /** A handler that throws does not stop the loop; the error goes here. */
  onError?: (err: unknown, item: T) => void;
}

/**
 * Takes items one at a time, most urgent first. One at a time on purpose: decisions read the last
 * decision of their repository (content hash), so two running at once could both triage the same
 * content. Work that outlives the tick is moved off it by `withTickBudget` (src/pipeline/decide.ts).
 */
export class SerialConsumer<T> {
  private running: Promise<void> | undefined;
  private current: { item: T; priority: Priority } | undefined;

  constructor(private readonly opts: SerialConsumerOptions<T>) {}

  /** Queues an item and starts the loop if it is idle. */
  offer(item: T, priority: Priority): void {
    this.opts.queue.push(item, priority);
    this.kick();
  }

  /** Starts the loop if idle (call after pushing to the queue directly or promoting items). */
  kick(): void {
    this.running ??= this.loop().finally(() => {
      this.running = undefined;
    });
  }

  /** The item being handled now, if any. */
  inFlight(): { item: T; priority: Priority } | undefined {
    return this.current;
  }

  /** Resolves when the queue is empty and nothing is being handled. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async loop(): Promise<void> {
    for (let next = this.opts.queue.take(); next; next = this.opts.queue.take()) {
      this.current = next;
      try {
        await this.opts.handle(next.item, next.priority);
      } catch (err) {
        this.opts.onError?.(err, next.item);
      } finally {
        this.current = undefined;
      }
    }
  }
}
