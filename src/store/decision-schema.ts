import { registerMigration } from './migrations.js';

// Migrations 50-59: the tick loop's decisions (src/pipeline/decide.ts) and the nightly dream job
// (src/pipeline/dream.ts). Times are epoch ms, money integer micro-dollars, like the spend ledger.
registerMigration({
  id: 50,
  name: 'decisions',
  sql: `
    CREATE TABLE decisions (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      repo TEXT NOT NULL,
      at INTEGER NOT NULL,
      -- what entered the tick queue: a trigger's settled batch, a cron tick, a poke, or ambient events
      source TEXT NOT NULL CHECK (source IN ('batch', 'cron', 'poke', 'ambient')),
      event_ids TEXT NOT NULL DEFAULT '[]',
      batch_id INTEGER,
      trigger TEXT,
      -- the first stage that settled the item; outcome 'rules' means the policy's run/ask handles it
      stage TEXT NOT NULL CHECK (stage IN ('rules', 'heuristic', 'triage', 'action')),
      outcome TEXT NOT NULL CHECK (outcome IN ('act', 'sleep', 'later', 'rules')),
      why TEXT NOT NULL,
      urgency TEXT CHECK (urgency IN ('now', 'next', 'later')),
      task TEXT,
      model TEXT,
      cost_micros INTEGER NOT NULL DEFAULT 0,
      -- sha256 of the changed files' contents: an item with the hash of the last one looked at sleeps
      content_hash TEXT NOT NULL,
      -- 1 when a model answered (even unusably): the content counts as looked at
      looked INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX decisions_repo ON decisions (repo, id);

    CREATE TABLE dream_runs (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      repo TEXT NOT NULL,
      started_at INTEGER NOT NULL,
      finished_at INTEGER,
      -- running is the lock: at most one per repository (index below); a crashed one expires
      state TEXT NOT NULL CHECK (state IN ('running', 'done', 'skipped', 'failed')),
      reason TEXT,
      lock_expires_at INTEGER,
      -- the newest event of the repository the memory was written from
      through_event_id INTEGER,
      lines INTEGER,
      cost_micros INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX dream_runs_lock ON dream_runs (repo) WHERE state = 'running';
    CREATE INDEX dream_runs_repo ON dream_runs (repo, id);
  `,
});
