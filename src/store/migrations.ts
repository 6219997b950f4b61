/**
 * Numbered schema migrations, applied in order on open inside one transaction each.
 * Append only: a released migration is never edited, a change is a new number.
 * Numbers are reserved per area so parallel work does not collide:
 *   1–9 core (events, batches, tasks, repos), 10–19 spend ledger, 20–29 policy/audit,
 *   30–39 agent/proposals, 40–49 approvals.
 */
export interface Migration {
  readonly id: number;
  readonly name: string;
  readonly sql: string;
  /** Runs after `sql`, in the same transaction: for data steps SQL cannot express (hashing rows). */
  readonly run?: (db: import('better-sqlite3').Database) => void;
}

const registry: Migration[] = [];

/** Areas register their migrations at import time; ids must be unique. */
export function registerMigration(migration: Migration): void {
  const clash = registry.find((m) => m.id === migration.id);
  if (clash && clash.name !== migration.name) {
    throw new Error(`migration ${migration.id} registered twice: '${clash.name}' and '${migration.name}'`);
  }
  if (!clash) registry.push(migration);
}

export function allMigrations(): Migration[] {
  return [...registry].sort((a, b) => a.id - b.id);
}
