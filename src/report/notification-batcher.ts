import type { Priority } from '../pipeline/priority-queue.js';
import type { PresenceMode } from '../pipeline/presence.js';

// Which notifications interrupt and which wait for a batch: the report stage's half of presence
// (src/pipeline/presence.ts says whether the user is at the keyboard; this says what that means
// for what they see). Type-only imports above: the report stage depends on no pipeline code.

export const DEFAULT_BATCH_EVERY_MS = 30 * 60_000;

/**
 * Show a notification now, or batch it? While the user works only urgent ones interrupt. While
 * they are away everything is shown: nobody is interrupted, and it is there when they come back.
 */
export function shouldNotifyNow(urgency: Priority, mode: PresenceMode): boolean {
  return mode === 'away' || urgency === 'now';
}

export interface Note {
  title: string;
  body: string;
  urgency: Priority;
  at: number;
}

export interface NotificationBatcherOptions {
  /** Shows one notification (urgent, or shown because the user is away). */
  show: (note: Note) => void;
  /** Shows a batch of held notifications as one summary. */
  showBatch: (notes: Note[]) => void;
  /** While active, held notifications are shown at least this often (default 30 minutes). */
  flushEveryMs?: number | undefined;
}

/**
 * Holds non-urgent notifications while the user is active and shows them together when they step
 * away, or every `flushEveryMs`. It sets no timers: the daemon calls `tick` (e.g. each minute and
 * whenever presence changes), so it is driven by the same clock as everything else.
 */
export class NotificationBatcher {
  private held: Note[] = [];
  private readonly flushEveryMs: number;

  constructor(private readonly opts: NotificationBatcherOptions) {
    this.flushEveryMs = opts.flushEveryMs ?? DEFAULT_BATCH_EVERY_MS;
  }

  /** Shows the note now or holds it; returns what happened. */
  offer(note: Note, mode: PresenceMode): 'shown' | 'held' {
    if (shouldNotifyNow(note.urgency, mode)) {
      this.opts.show(note);
      return 'shown';
    }
    this.held.push(note);
    return 'held';
  }

  /** Flushes the held notes if the user is away or the oldest has waited `flushEveryMs`. Returns how many were shown. */
  tick(now: number, mode: PresenceMode): number {
    const oldest = this.held[0];
    if (!oldest) return 0;
    if (mode === 'away' || now - oldest.at >= this.flushEveryMs) return this.flush();
    return 0;
  }

  flush(): number {
    const batch = this.held;
    this.held = [];
    if (batch.length === 1) this.opts.show(batch[0]!);
    else if (batch.length > 1) this.opts.showBatch(batch);
    return batch.length;
  }

  pending(): number {
    return this.held.length;
  }
}
