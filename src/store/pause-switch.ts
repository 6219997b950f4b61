import type { Db } from './db.js';
import { ApprovalStore, type HumanChannel } from './approval-store.js';

const PAUSED_KEY = 'paused';
const PAUSED_BY_KEY = 'paused_by';

function iso(d: Date): string {
  return d.toISOString();
}

/** The pause-all switch (persisted, so it survives restarts): the daemon starts no ambient work while set. */
export function isPaused(db: Db): boolean {
  return new ApprovalStore(db).setting(PAUSED_KEY)?.value === 'true';
}

export function pausedSince(db: Db): string | null {
  const s = new ApprovalStore(db).setting(PAUSED_KEY);
  return s?.value === 'true' ? s.updatedAt : null;
}

/** The pause switch as `status` shows it: whether, since when and through which channel. */
export function pauseStatus(db: Db): { paused: boolean; since: string | null; by: string | null } {
  return { paused: isPaused(db), since: pausedSince(db), by: pausedBy(db) };
}

/** Who set the pause switch: the channel it came through (cli, tray, notification, mcp), for `status`. */
export function pausedBy(db: Db): string | null {
  return isPaused(db) ? (new ApprovalStore(db).setting(PAUSED_BY_KEY)?.value ?? null) : null;
}

export function setPaused(db: Db, paused: boolean, now: Date = new Date(), by?: HumanChannel): { paused: boolean; since: string | null } {
  const store = new ApprovalStore(db);
  db.transaction(() => {
    store.setSetting(PAUSED_KEY, paused ? 'true' : 'false', iso(now));
    if (paused) store.setSetting(PAUSED_BY_KEY, by ?? 'cli', iso(now));
  })();
  return { paused, since: paused ? iso(now) : null };
}
