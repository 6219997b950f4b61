import { PriorityQueue, SerialConsumer, type Priority } from './priority-queue.js';
import { mergeTickItems, tickKey, withTickBudget, type Decision, type LateResult, type TickItem } from './decide.js';

/**
 * The tick loop: the queue, the one-at-a-time consumer, and the parking place for work deferred
 * while the user is at the keyboard.
 *
 *   offer(item) ──► queue (now > next > later) ──► decide ──► onDecision (daily log, agent task...)
 *                                                    │ later
 *                                                    ▼
 *                                                  parked ──► wake() when the user steps away
 *
 * A parked item is not re-decided until `wake()`: deciding it again while the user is still active
 * would only defer it again. Parked ambient items of one repository merge into one.
 *
 * With `budgetMs`, one item may hold the loop that long (15 s while the user is active, see
 * allowance() in presence.ts); an item still being decided or handled then — a slow triage call, a
 * check run from onDecision — goes on in the background and `onLate` reports it when it ends, while
 * the loop takes the next item.
 */

export interface TickLoopOptions {
  decide: (item: TickItem) => Promise<Decision>;
  /** Every decision, 'later' ones included (they are logged too). */
  onDecision: (decision: Decision, item: TickItem) => void | Promise<void>;
  /** Recomputes the content hash of merged items (default: combines the two hashes). */
  rehash?: ((repo: string, paths: string[]) => string) | undefined;
  onError?: ((err: unknown, item: TickItem) => void) | undefined;
  /** How long one item may hold the loop (read per item); absent: as long as it takes. */
  budgetMs?: (() => number) | undefined;
  /** An item that outlived `budgetMs` finished (ok) or failed. */
  onLate?: ((item: TickItem, result: LateResult<void>) => void) | undefined;
}

export class TickLoop {
  private readonly queue: PriorityQueue<TickItem>;
  private readonly parking: PriorityQueue<TickItem>;
  private readonly consumer: SerialConsumer<TickItem>;

  constructor(private readonly opts: TickLoopOptions) {
    const merge = (a: TickItem, b: TickItem): TickItem => mergeTickItems(a, b, opts.rehash ? (paths) => opts.rehash!(b.repo, paths) : undefined);
    this.queue = new PriorityQueue<TickItem>({ key: tickKey, merge });
    this.parking = new PriorityQueue<TickItem>({ key: tickKey, merge });
    this.consumer = new SerialConsumer<TickItem>({
      queue: this.queue,
      handle: async (item) => {
        const work = (async () => {
          const d = await opts.decide(item);
          if (d.outcome === 'later') this.parking.push(item, 'later');
          await opts.onDecision(d, item);
        })();
        if (!opts.budgetMs) return work;
        const r = await withTickBudget(work, opts.budgetMs(), (late) => opts.onLate?.(item, late));
        if (r.status === 'error') throw r.error;
      },
      onError: opts.onError,
    });
  }

  /** Queues an item at its own urgency (a poke is `now`, so it is the next one decided). */
  offer(item: TickItem, priority: Priority = item.urgency): void {
    this.consumer.offer(item, priority);
  }

  /** The user stepped away: parked items go back to the queue as `next`. Returns how many. */
  wake(): number {
    const items = this.parking.drain('later');
    for (const item of items) this.queue.push(item, 'next');
    this.consumer.kick();
    return items.length;
  }

  parked(): number {
    return this.parking.size();
  }

  queued(): number {
    return this.queue.size();
  }

  /** Resolves when nothing is queued or being decided (parked items may remain). */
  idle(): Promise<void> {
    return this.consumer.idle();
  }
}
