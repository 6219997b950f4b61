import { registerMigration } from './migrations.js';

registerMigration({
  id: 1,
  name: 'core',
  sql: `
    CREATE TABLE events (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      type TEXT NOT NULL,
      repo TEXT NOT NULL,
      at TEXT NOT NULL,
      path TEXT,
      origin TEXT NOT NULL DEFAULT 'user',
      data TEXT NOT NULL DEFAULT '{}',
      -- set once every trigger this event matched has it in a settled batch
      settled_at TEXT
    );
    CREATE INDEX events_repo_id ON events (repo, id);
    CREATE INDEX events_unsettled ON events (id) WHERE settled_at IS NULL;

    CREATE TABLE batches (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      repo TEXT NOT NULL,
      trigger TEXT NOT NULL,
      created_at TEXT NOT NULL,
      event_count INTEGER NOT NULL,
      paths TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE batch_events (
      batch_id INTEGER NOT NULL REFERENCES batches (id),
      event_id INTEGER NOT NULL REFERENCES events (id),
      trigger TEXT NOT NULL,
      PRIMARY KEY (event_id, trigger)
    );

    CREATE TABLE tasks (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      repo TEXT NOT NULL,
      trigger TEXT NOT NULL,
      kind TEXT NOT NULL,
      batch_id INTEGER REFERENCES batches (id),
      state TEXT NOT NULL,
      created_at TEXT NOT NULL,
      started_at TEXT,
      finished_at TEXT,
      command TEXT,
      exit_code INTEGER,
      signal TEXT,
      duration_ms INTEGER,
      output TEXT,
      reason TEXT,
      data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX tasks_state ON tasks (state);
    CREATE INDEX tasks_trigger ON tasks (repo, trigger, id);

    CREATE TABLE task_transitions (
      task_id INTEGER NOT NULL REFERENCES tasks (id),
      from_state TEXT,
      to_state TEXT NOT NULL,
      at TEXT NOT NULL,
      reason TEXT
    );

    CREATE TABLE repos (
      path TEXT PRIMARY KEY,
      added_at TEXT NOT NULL,
      trusted_at TEXT,
      -- sha256 of the repo policy file at trust time; a different file is untrusted again
      trusted_policy_sha TEXT
    );

    CREATE TABLE cron_runs (
      repo TEXT NOT NULL,
      trigger TEXT NOT NULL,
      last_slot TEXT NOT NULL,
      PRIMARY KEY (repo, trigger)
    );
  `,
});

registerMigration({
  id: 2,
  name: 'repo-watch-state',
  sql: `
    -- the repositories a plain 'kairos run' resumes watching
    ALTER TABLE repos ADD COLUMN watched INTEGER NOT NULL DEFAULT 0;
    -- the last git state seen, so a commit made while the daemon was down is still reported
    ALTER TABLE repos ADD COLUMN git_state TEXT;
  `,
});

registerMigration({
  id: 4,
  name: 'task-held',
  sql: `
    -- why the gate holds a queued task (quiet hours, pause, rate limit, edit back-off), until when
    -- (null: until 'kairos resume'), and since when: 'kairos tasks' and 'status' read them from here,
    -- so they say why work waits even with the daemon down. Cleared when the task starts.
    ALTER TABLE tasks ADD COLUMN held_reason TEXT;
    ALTER TABLE tasks ADD COLUMN held_until TEXT;
    ALTER TABLE tasks ADD COLUMN held_since TEXT;
  `,
});
