import type { Db } from '../store/db.js';
import type { Policy } from '../policy/schema.js';
import { parseDuration } from '../policy/duration.js';
import { recentLooks, type DecisionOutcome } from '../store/decision-store.js';

/**
 * How often ambient triage may look at a repository whose changes keep being routine. After a look
 * that found nothing to do, the next waits at least `triage.look_every` (default 10 minutes), and
 * twice as long after each further such look, up to 16× (160 minutes by default). An "act" answer
 * steps the wait down one level (16× → 8×; findings in a row bring it back to no wait); a failing
 * command and a poke are not held at all. Nothing is dropped: what changes meanwhile waits, parked,
 * and the next look sees all of it at once.
 *
 * Why an act steps down rather than starts over: a look that found something says this change
 * needed work, not that every change after it does; the agent it started reads the tree as it is.
 * Starting over made the four looks after each act come about one per commit again (replayed
 * gemini-cli: 20 of its 45 calls were sleeping looks among the four after one of its 7 acts;
 * watchexec 9 of 30). The cost (bench/README.md): a second broken commit soon after an act is
 * looked at later, sometimes only after its own repair (watchexec recall 0.83 in two runs of three,
 * 0.67 in one; gemini-cli "in time" 0.57 → 0.29–0.43).
 *
 * Why: replaying real histories (bench/replay/history), a look per work session still asked the
 * model about one session in three on a repository that needed nothing nine times out of ten; a
 * poller that keeps finding nothing should poll less. The cap went from 8× to 16× when replaying
 * gemini-cli and watchexec still showed about one call in eight batches at 8× (bench/README.md):
 * 16× with the content rules cut 6–10 calls per history, recall kept ≥ 0.8; 32× cut more but cost gemini-cli two
 * act-labelled commits (looked at only after their repair). A cool-down of look_every after an act
 * answer was tried too and dropped: it saved no call and cost watchexec an act-labelled commit.
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

/**
 * The back-off's level after `outcomes` (oldest first): each look that found nothing raises it one
 * step (up to `steps`), each act lowers it one. One act among quiet looks is one finding, not a
 * sign that every change now needs a look.
 */
export function backoffLevel(outcomes: readonly DecisionOutcome[], steps: number): number {
  let level = 0;
  for (const o of outcomes) level = o === 'act' ? Math.max(0, level - 1) : Math.min(steps, level + 1);
  return level;
}

/** Must the next ambient look at `repo` wait? Undefined when it may look now. */
export function lookWait(db: Db, repo: string, everyMs: number, now: number): LookWait | undefined {
  if (everyMs <= 0) return undefined;
  const steps = Math.log2(MAX_LOOK_BACKOFF) + 1;
  const looks = recentLooks(db, repo, 4 * steps);
  const level = backoffLevel(looks.map((l) => l.outcome).reverse(), steps);
  if (level === 0) return undefined;
  let quiet = 0;
  while (quiet < looks.length && looks[quiet]!.outcome === 'sleep') quiet++;
  const until = looks[0]!.at + everyMs * 2 ** (level - 1);
  return now < until ? { until, quietLooks: quiet } : undefined;
}
