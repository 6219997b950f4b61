import type { Db } from './db.js';
import type { CronSlots } from '../events/cron.js';

/** The last cron slot fired per repository and trigger (table cron_runs), for src/events/cron.ts; statements prepared once. */
export function cronSlots(db: Db): CronSlots {
  const getLast = db.prepare<[string, string], { last_slot: string }>('SELECT last_slot FROM cron_runs WHERE repo = ? AND trigger = ?');
  const setLast = db.prepare<[string, string, string]>(
    `INSERT INTO cron_runs (repo, trigger, last_slot) VALUES (?, ?, ?)
     ON CONFLICT (repo, trigger) DO UPDATE SET last_slot = excluded.last_slot`,
  );
  return {
    last: (repo, trigger) => getLast.get(repo, trigger)?.last_slot,
    record: (repo, trigger, slotIso) => void setLast.run(repo, trigger, slotIso),
    inTransaction: (fn) => db.transaction(fn),
  };
}
