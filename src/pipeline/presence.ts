/**
 * Is the user at the keyboard? Kairos does not watch the screen or the mouse; it knows only what it
 * already sees: the user's own file changes in watched repositories and their use of the `kairos`
 * command. The daemon feeds both in. No activity for `awayAfterMs` (default 15 minutes) is "away".
 *
 * What presence changes, and what it never does:
 *  - active: Kairos interrupts less. Routine (`later`) work waits (src/pipeline/decide.ts defers
 *    it), and notifications are batched: only urgent (`now`) ones are shown at once.
 *  - away: Kairos may prepare more: deferred work is decided, checks may run longer before being
 *    moved off the tick, and proposals may be prepared.
 *  - either way, nothing is applied. This module has no path to apply anything: preparing a
 *    proposal happens in a worktree, and applying waits for a human (src/policy/approval.ts).
 */

export type PresenceMode = 'active' | 'away';

export const DEFAULT_AWAY_AFTER_MS = 15 * 60_000;
/** How long a command may hold the tick when the user is active (issue 7: 15 s). */
export const ACTIVE_TICK_BUDGET_MS = 15_000;
/** When the user is away nobody waits on the tick, so a check may run longer in the foreground. */
export const AWAY_TICK_BUDGET_MS = 5 * 60_000;

export interface PresenceOptions {
  awayAfterMs?: number | undefined;
  clock?: (() => number) | undefined;
}

export class Presence {
  readonly awayAfterMs: number;
  private readonly clock: () => number;
  private lastFs: number | undefined;
  private lastCli: number | undefined;

  constructor(opts: PresenceOptions = {}) {
    this.awayAfterMs = opts.awayAfterMs ?? DEFAULT_AWAY_AFTER_MS;
    this.clock = opts.clock ?? Date.now;
  }

  /** A change the user made in a watched repository (an event with origin 'user', never the daemon's own). */
  noteFsActivity(at: number = this.clock()): void {
    this.lastFs = Math.max(this.lastFs ?? at, at);
  }

  /** Any `kairos` command that reached the daemon (status, poke, approve...). */
  noteCliUse(at: number = this.clock()): void {
    this.lastCli = Math.max(this.lastCli ?? at, at);
  }

  /** The latest sign of the user, or undefined if none was seen since the daemon started. */
  lastActivity(): number | undefined {
    if (this.lastFs === undefined) return this.lastCli;
    if (this.lastCli === undefined) return this.lastFs;
    return Math.max(this.lastFs, this.lastCli);
  }

  /**
   * A daemon that has seen no activity at all reports away: it starts at boot or login, often
   * unattended, and a wrong "away" costs only a batched notification shown at once.
   */
  mode(now: number = this.clock()): PresenceMode {
    const last = this.lastActivity();
    return last !== undefined && now - last < this.awayAfterMs ? 'active' : 'away';
  }

  /** When the user will count as away if nothing else happens (undefined: already away). */
  awayAt(now: number = this.clock()): number | undefined {
    const last = this.lastActivity();
    return last !== undefined && now - last < this.awayAfterMs ? last + this.awayAfterMs : undefined;
  }
}

/**
 * Presence tracked per event, not per minute: every sign of the user re-arms one timer for the
 * moment they would count as away, and when it fires (and they are away) `onAway` runs at once. A
 * burst of saves between two minute ticks is therefore always followed by its wake-up. Arm it after
 * each noteFsActivity / noteCliUse; arming while already away calls `onAway` straight away.
 */
export class AwayAlarm {
  private timer: NodeJS.Timeout | undefined;
  private armedFor: number | undefined;

  constructor(
    private readonly presence: Presence,
    private readonly onAway: () => void,
    private readonly clock: () => number = Date.now,
  ) {}

  arm(): void {
    const at = this.presence.awayAt(this.clock());
    if (at === undefined) {
      this.disarm();
      this.onAway();
      return;
    }
    // Activity only moves the away time later: the armed timer then fires early and arm() re-checks, so
    // a steady writer (20 events a second) costs one timer per away period, not a new one per event.
    if (this.armedFor !== undefined && this.armedFor <= at) return;
    this.disarm();
    this.armedFor = at;
    // +1 ms: mode() is 'away' from awayAt on; a timer may fire a hair early on some platforms, and arm() re-checks.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.armedFor = undefined;
      this.arm();
    }, Math.max(0, at - this.clock()) + 1);
    this.timer.unref();
  }

  disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = undefined;
  }
}

export interface Allowance {
  /** How long a command may hold the tick before it is moved to the background (withTickBudget). */
  tickBudgetMs: number;
  /** Items of priority `later` wait while the user works; they are decided when the user steps away. */
  deferRoutine: boolean;
  /** May the decider ask for longer checks and prepare proposals (never apply them)? */
  prepareMore: boolean;
}

/** What the tick loop may do in each mode. */
export function allowance(mode: PresenceMode): Allowance {
  return mode === 'away'
    ? { tickBudgetMs: AWAY_TICK_BUDGET_MS, deferRoutine: false, prepareMore: true }
    : { tickBudgetMs: ACTIVE_TICK_BUDGET_MS, deferRoutine: true, prepareMore: false };
}
