import { z } from 'zod';

/**
 * Stops stage 4 from calling the summariser after K failures in a row, for a cool-down; then lets
 * one attempt through (half-open) and closes again on success. A model that keeps returning junk
 * or a provider that is down then costs nothing per turn: the conversation is compressed with
 * stubs instead. The state is a plain value so the caller can persist it (e.g. per task).
 */

export const BreakerState = z.object({
  consecutiveFailures: z.number().int().nonnegative(),
  /** When the breaker last opened (ms since epoch), or null while closed. */
  openedAt: z.number().nullable(),
  lastError: z.string().nullable(),
});
export type BreakerState = z.infer<typeof BreakerState>;

export interface BreakerOptions {
  /** Consecutive failures that open the breaker (default 3). */
  maxFailures?: number | undefined;
  /** How long it stays open before one attempt is let through (default 10 minutes). */
  cooldownMs?: number | undefined;
  clock?: (() => number) | undefined;
  /** Restores persisted state. */
  state?: BreakerState | undefined;
  /** Called after every change, to persist the state. */
  onChange?: ((state: BreakerState) => void) | undefined;
}

export type BreakerStatus = 'closed' | 'open' | 'half-open';

export class CompressionBreaker {
  private s: BreakerState;
  private readonly maxFailures: number;
  private readonly cooldownMs: number;
  private readonly clock: () => number;
  private readonly onChange: ((state: BreakerState) => void) | undefined;

  constructor(opts: BreakerOptions = {}) {
    this.maxFailures = opts.maxFailures ?? 3;
    this.cooldownMs = opts.cooldownMs ?? 10 * 60_000;
    this.clock = opts.clock ?? Date.now;
    this.onChange = opts.onChange;
    this.s = opts.state ? BreakerState.parse(opts.state) : { consecutiveFailures: 0, openedAt: null, lastError: null };
  }

  get state(): BreakerState {
    return { ...this.s };
  }

  status(): BreakerStatus {
    if (this.s.openedAt === null) return 'closed';
    return this.clock() - this.s.openedAt >= this.cooldownMs ? 'half-open' : 'open';
  }

  canTry(): boolean {
    return this.status() !== 'open';
  }

  recordSuccess(): void {
    if (this.s.consecutiveFailures === 0 && this.s.openedAt === null) return;
    this.set({ consecutiveFailures: 0, openedAt: null, lastError: null });
  }

  recordFailure(reason: string): void {
    const failures = this.s.consecutiveFailures + 1;
    // A failure while half-open re-opens at once; otherwise the breaker opens on the K-th failure.
    const opens = failures >= this.maxFailures;
    this.set({ consecutiveFailures: failures, openedAt: opens ? this.clock() : this.s.openedAt, lastError: reason });
  }

  private set(next: BreakerState): void {
    this.s = next;
    this.onChange?.({ ...next });
  }
}
