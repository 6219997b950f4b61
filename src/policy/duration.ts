import type { Duration } from './schema.js';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Milliseconds in a policy duration ("500ms", "30s", "5m", "2h", "1d", or a number of ms).
 * An absent duration is 0, so an unset cooldown means "no cool-down".
 */
export function parseDuration(d: Duration | undefined): number {
  if (d === undefined) return 0;
  if (typeof d === 'number') {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`duration ${d} is not a whole, non-negative number of milliseconds`);
    return d;
  }
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(d);
  if (!m) throw new RangeError(`'${d}' is not a duration — write e.g. "500ms", "30s", "5m", "2h" or "1d"`);
  const unit = m[2];
  // The regex admits only UNIT_MS's keys; the check is what lets the type say so.
  if (!isUnit(unit)) throw new RangeError(`'${d}' is not a duration — write e.g. "500ms", "30s", "5m", "2h" or "1d"`);
  return Number(m[1]) * UNIT_MS[unit];
}

function isUnit(u: string | undefined): u is keyof typeof UNIT_MS {
  return u !== undefined && Object.hasOwn(UNIT_MS, u);
}
