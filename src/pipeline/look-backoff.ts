import type { Db } from '../store/db.js';
import type { Policy } from '../policy/schema.js';
import { parseDuration } from '../policy/duration.js';
import { recentLooks } from '../store/decision-store.js';

/**
 * How often ambient triage may look at a repository whose changes keep being routine. After a look
 * that found nothing to do, the next waits at least `triage.look_every` (default 10 minutes), and
 * twice as long after each further such look, up to 16× (160 minutes by default). An "act" answer
 * starts over; a failing command and a poke are not held at all. Nothing is dropped: what changes
 * meanwhile waits, parked, and the next look sees all of it at once.
 *
 * Why: replaying real histories (bench/replay/history), a look per work session still asked the
 * model about one session in three on a repository that needed nothing nine times out of ten; a
 * poller that keeps finding nothing should poll less. The cap went from 8× to 16× when replaying
 * gemini-cli and watchexec still showed about one call in eight batches at 8× (bench/README.md):
 * 16× with the content rules cut 6–10 calls per history, recall kept ≥ 0.8; 32× cut more but cost gemini-cli two
 * act-labelled commits (looked at only after their repair). A cool-down of look_every after an act
 * answer was tried too and dropped: it saved no call and cost watchexec an act-labelled commit.
 * So was an act stepping the wait down one level instead of starting over (re-measured with the
 * replay scoring by one clock): it met 90 % on both histories (watchexec 25–27 calls from 30,
 * gemini-cli 36–40 from 45) but watchexec recall fell to 0.67 in two runs of four — a one-file
 * commit repaired a few commits later was looked at only after its repair.
 */

export const DEFAULT_LOOK_EVERY = '10m';
/** The longest wait, as a multiple of look_every. */
export const MAX_LOOK_BACKOFF = 16;

export function lookEveryMs(policy: Pick<Policy, 'triage'>): number {
  return parseDuration(policy.triage?.look_every ?? DEFAULT_LOOK_EVERY);
}

export interface LookWait {
  /** When the next look may be made (epoch ms). */
  until: number;
  /** How many looks in a row found nothing (1..). */
  quietLooks: number;
}

/** Must the next ambient look at `repo` wait? Undefined when it may look now. */
export function lookWait(db: Db, repo: string, everyMs: number, now: number): LookWait | undefined {
  if (everyMs <= 0) return undefined;
  const steps = Math.log2(MAX_LOOK_BACKOFF) + 1;
  const looks = recentLooks(db, repo, steps);
  let quiet = 0;
  while (quiet < looks.length && looks[quiet]!.outcome === 'sleep') quiet++;
  if (quiet === 0) return undefined;
  const until = looks[0]!.at + everyMs * 2 ** (Math.min(quiet, steps) - 1);
  return now < until ? { until, quietLooks: quiet } : undefined;
}
