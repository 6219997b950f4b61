import type { Priority } from '../pipeline/priority-queue.js';
import type { PresenceMode } from '../pipeline/presence.js';
import { NotificationBatcher, type Note } from './notification-batcher.js';
import type { Notification, Notifier, NotifyResult, Urgency } from './notify.js';

/**
 * presence.batch_every: while the user is at the keyboard, non-urgent notifications are gathered
 * and shown as ONE at most every `batch_every`; a critical one (or one with actions, which asks for
 * an answer) is shown at once, and so is everything while the user is away. The batch is shown
 * when its oldest note has waited the interval (a timer armed when the first note is held), when
 * the user steps away (`flush`, called by the presence alarm), and on shutdown, so nothing is lost.
 * Without batch_every every notification goes straight through.
 */

export interface BatchingNotifierOptions {
  inner: Notifier;
  /** The interval in ms, read per notification (a reloaded policy applies); undefined: no batching. */
  batchEveryMs: () => number | undefined;
  mode: () => PresenceMode;
  clock?: (() => number) | undefined;
}

/** Urgency of a notification as the tick queue knows it: only critical interrupts the user. */
function priorityOf(u: Urgency | undefined): Priority {
  return u === 'critical' ? 'now' : u === 'low' ? 'later' : 'next';
}

/** The one notification a batch is shown as: a count in the title, one line per note. */
export function batchNotification(notes: readonly Note[]): Notification {
  return {
    title: `Kairos: ${notes.length} updates`,
    body: notes.map((n) => (n.body ? `${n.title}: ${n.body.split('\n')[0]}` : n.title)).join('\n'),
    urgency: 'normal',
  };
}

export class BatchingNotifier implements Notifier {
  private readonly batcher: NotificationBatcher;
  private timer: NodeJS.Timeout | undefined;
  private readonly clock: () => number;
  private flushing: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: BatchingNotifierOptions) {
    this.clock = opts.clock ?? Date.now;
    this.batcher = new NotificationBatcher({
      show: (note) => this.send({ title: note.title, body: note.body, urgency: note.urgency === 'next' ? 'normal' : 'low' }),
      showBatch: (notes) => this.send(batchNotification(notes)),
    });
  }

  async notify(n: Notification): Promise<NotifyResult> {
    const every = this.opts.batchEveryMs();
    if (every === undefined || (n.actions?.length ?? 0) > 0) return this.opts.inner.notify(n);
    const note: Note = { title: n.title, body: n.body, urgency: priorityOf(n.urgency), at: this.clock() };
    if (note.urgency === 'now' || this.opts.mode() === 'away') return this.opts.inner.notify(n);
    this.batcher.offer(note, 'active');
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, every);
      this.timer.unref();
    }
    return { status: 'held', detail: `shown with others within ${Math.round(every / 1000)} s (presence.batch_every)` };
  }

  /** Shows what is held now (as one notification when there are several). Returns how many were held. */
  flush(): number {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return this.batcher.flush();
  }

  pending(): number {
    return this.batcher.pending();
  }

  /** Resolves when every notification handed to the backend so far has been answered. */
  settled(): Promise<unknown> {
    return this.flushing;
  }

  private send(n: Notification): void {
    this.flushing = Promise.all([this.flushing, this.opts.inner.notify(n)]);
  }
}
