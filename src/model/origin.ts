/** The ledger's coarse purpose column: attended ('user') or not ('ambient'). */
export type Purpose = 'user' | 'ambient';

/**
 * Who a model call is for. Attended origins (a user's poke or request) have someone waiting on the
 * answer; the others run unattended and are bounded by the time and money they have left
 * (src/model/recovery.ts picks each origin's retry policy).
 */
export type Origin = 'poke' | 'user' | 'trigger' | 'ambient' | 'dream' | 'worker';
export const ORIGINS: readonly Origin[] = ['poke', 'user', 'trigger', 'ambient', 'dream', 'worker'];
export function isAttended(origin: Origin): boolean {
  return origin === 'poke' || origin === 'user';
}
/** The ledger's coarse purpose column for an origin. */
export function purposeOf(origin: Origin): Purpose {
  return isAttended(origin) ? 'user' : 'ambient';
}
