import { registerMigration } from './migrations.js';

// Migrations 20-29: policy audit (src/policy/audit.ts).
registerMigration({
  id: 20,
  name: 'policy-audit',
  sql: `
    -- one row per layer verdict; text columns are redacted before they are written
    CREATE TABLE audit (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at TEXT NOT NULL,
      repo TEXT NOT NULL,
      task_id INTEGER,
      trigger TEXT,
      origin TEXT NOT NULL,
      what TEXT NOT NULL,
      layer TEXT NOT NULL,
      verdict TEXT NOT NULL CHECK (verdict IN ('allow', 'ask', 'deny')),
      reason TEXT,
      rule TEXT,
      -- 1 when an ask found nobody to answer and became a queued approval
      queued INTEGER NOT NULL DEFAULT 0,
      -- the verdict of all layers together; the same for every row of one evaluation
      final TEXT,
      eval_id TEXT NOT NULL
    );
    CREATE INDEX audit_repo_at ON audit (repo, at);
    CREATE INDEX audit_task ON audit (task_id) WHERE task_id IS NOT NULL;
    CREATE INDEX audit_eval ON audit (eval_id);
  `,
});
