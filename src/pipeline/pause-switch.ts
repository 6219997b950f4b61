import type { Db } from '../store/db.js';
import { ApprovalStore } from '../store/approval-store.js';

const PAUSED_KEY = 'paused';

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

export function setPaused(db: Db, paused: boolean, now: Date = new Date()): { paused: boolean; since: string | null } {
  new ApprovalStore(db).setSetting(PAUSED_KEY, paused ? 'true' : 'false', iso(now));
  return { paused, since: paused ? iso(now) : null };
}
