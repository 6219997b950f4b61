import { registerMigration } from './migrations.js';

// Migrations 30-39: agent proposals (src/store/proposal-store.ts).
registerMigration({
  id: 30,
  name: 'proposals',
  sql: `
    CREATE TABLE proposals (
      id TEXT PRIMARY KEY,
      task_id TEXT NOT NULL,
      -- realpath'd top folder of the user's repository the diff applies to
      repo TEXT NOT NULL,
      -- the commit the diff was taken against (HEAD, or HEAD plus the user's carried uncommitted changes)
      base TEXT NOT NULL,
      -- the exact bytes shown for approval; hash is their sha256 (hex), re-checked before applying
      diff BLOB NOT NULL,
      hash TEXT NOT NULL,
      summary TEXT NOT NULL,
      files TEXT NOT NULL DEFAULT '[]',
      cost_micros INTEGER NOT NULL DEFAULT 0,
      -- applying and undoing are held only while files are being written; a row left in one of them
      -- after a crash is rolled back on start (recoverInterruptedApplies)
      state TEXT NOT NULL DEFAULT 'proposed'
        CHECK (state IN ('proposed', 'applying', 'applied', 'undoing', 'undone', 'discarded')),
      created_at TEXT NOT NULL,
      applied_at TEXT,
      undone_at TEXT,
      -- the undo point (JSON), recorded before the first byte of the user's tree is written
      undo TEXT
    );
    CREATE INDEX proposals_task ON proposals (task_id);
    CREATE INDEX proposals_in_flight ON proposals (state) WHERE state IN ('applying', 'undoing');
  `,
});
