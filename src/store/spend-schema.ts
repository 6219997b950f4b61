import { registerMigration } from './migrations.js';

// Migrations 10-19: spend ledger (src/model/ledger.ts). Money columns are integer micro-dollars.
registerMigration({
  id: 10,
  name: 'spend-ledger',
  sql: `
    CREATE TABLE spend_reservations (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      created_at INTEGER NOT NULL,          -- epoch ms of the reservation
      model TEXT NOT NULL,
      priced_as TEXT NOT NULL,              -- price-table entry used (the fallback for unknown models)
      purpose TEXT NOT NULL,                -- 'user' | 'ambient'
      task_id TEXT,
      trigger TEXT,
      repo TEXT,
      -- local-time windows the charge belongs to, fixed at reservation time
      hour_key TEXT NOT NULL,
      day_key TEXT NOT NULL,
      month_key TEXT NOT NULL,
      reserved_micro INTEGER NOT NULL CHECK (reserved_micro >= 0),
      -- open: counts reserved_micro; settled: real cost; reconciled: left open by a crash, counted at
      -- reserved_micro; released: the call failed without being billed, counts nothing
      state TEXT NOT NULL CHECK (state IN ('open', 'settled', 'released', 'reconciled')),
      cost_micro INTEGER,
      closed_at INTEGER,
      input_tokens INTEGER,
      output_tokens INTEGER,
      cache_creation_tokens INTEGER,
      cache_read_tokens INTEGER,
      note TEXT
    );
    CREATE INDEX spend_hour ON spend_reservations (hour_key) WHERE state != 'released';
    CREATE INDEX spend_day ON spend_reservations (day_key) WHERE state != 'released';
    CREATE INDEX spend_month ON spend_reservations (month_key) WHERE state != 'released';
    CREATE INDEX spend_task ON spend_reservations (task_id) WHERE state != 'released';
    CREATE INDEX spend_open ON spend_reservations (id) WHERE state = 'open';

    -- one row per (cap, window, percent) crossed, so each warning is given once per window
    CREATE TABLE spend_thresholds (
      cap TEXT NOT NULL,
      window_key TEXT NOT NULL,
      percent INTEGER NOT NULL,
      at INTEGER NOT NULL,
      spent_micro INTEGER NOT NULL,
      cap_micro INTEGER NOT NULL,
      PRIMARY KEY (cap, window_key, percent)
    );

    -- every step down the model ladder, with its reason
    CREATE TABLE spend_ladder_steps (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at INTEGER NOT NULL,
      from_model TEXT NOT NULL,
      to_model TEXT,                        -- NULL: no model (rules only)
      reason TEXT NOT NULL,
      task_id TEXT,
      trigger TEXT,
      repo TEXT
    );
  `,
});

// A task's own cap, overriding budget.task_usd for that task id: a coordinated worker gets the
// slice of its coordinator's budget it was given (src/agent/workers.ts). parent_task_id makes the
// worker's spend count in the coordinator's task total too.
registerMigration({
  id: 11,
  name: 'spend-task-caps',
  sql: `
    CREATE TABLE spend_task_caps (
      task_id TEXT PRIMARY KEY,
      cap_micro INTEGER NOT NULL CHECK (cap_micro >= 0),
      parent_task_id TEXT,
      set_at INTEGER NOT NULL
    );
    CREATE INDEX spend_task_caps_parent ON spend_task_caps (parent_task_id) WHERE parent_task_id IS NOT NULL;
  `,
});

// Recovery and fitting the call to the money (issue 13): who each call was for (its origin) and
// which attempt it was; the output tokens reserved (max_tokens, lowered when money is short) and
// those asked for; why a ladder step was taken (the budget, or repeated overloads); and every
// retry waited for and call given up, so `kairos spend` and the daily log can show them.
registerMigration({
  id: 12,
  name: 'spend-origin-recovery',
  sql: `
    ALTER TABLE spend_reservations ADD COLUMN origin TEXT;      -- poke | user | trigger | ambient | dream | worker
    ALTER TABLE spend_reservations ADD COLUMN attempt INTEGER;  -- 1 for the first attempt of a call
    ALTER TABLE spend_reservations ADD COLUMN max_tokens INTEGER;
    ALTER TABLE spend_reservations ADD COLUMN asked_tokens INTEGER;
    ALTER TABLE spend_ladder_steps ADD COLUMN cause TEXT;       -- budget | overloaded
    ALTER TABLE spend_ladder_steps ADD COLUMN origin TEXT;
    CREATE INDEX spend_ladder_task ON spend_ladder_steps (task_id) WHERE task_id IS NOT NULL;

    CREATE TABLE spend_recovery (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at INTEGER NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('retry', 'gave_up')),
      origin TEXT NOT NULL,
      model TEXT NOT NULL,
      reason TEXT NOT NULL,
      waited_ms INTEGER,
      task_id TEXT,
      trigger TEXT,
      repo TEXT,
      day_key TEXT NOT NULL,
      month_key TEXT NOT NULL
    );
    CREATE INDEX spend_recovery_month ON spend_recovery (month_key);
  `,
});

// Indexes for what `kairos spend` and `status` read every time (issue 11's "every listing query uses
// an index"): the month's calls by origin counts released reservations too, so it needs an index
// the partial `spend_month` cannot give; the recovery list reads the newest rows of each table.
registerMigration({
  id: 13,
  name: 'spend-report-indexes',
  sql: `
    CREATE INDEX spend_month_all ON spend_reservations (month_key);
    CREATE INDEX spend_ladder_at ON spend_ladder_steps (at);
    CREATE INDEX spend_ladder_cause_at ON spend_ladder_steps (cause, at);
    CREATE INDEX spend_recovery_kind_month_at ON spend_recovery (kind, month_key, at);
  `,
});
