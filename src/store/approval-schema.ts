import { registerMigration } from './migrations.js';

// Migrations 40-49: the approval queue (src/store/approval-store.ts, src/pipeline/approvals.ts).
registerMigration({
  id: 40,
  name: 'approvals',
  sql: `
    CREATE TABLE approvals (
      -- short and random (~39 bits): typed after 'kairos approve', never guessable from another id
      id TEXT PRIMARY KEY,
      kind TEXT NOT NULL CHECK (kind IN ('proposal', 'command')),
      proposal_id TEXT REFERENCES proposals (id),
      -- sha256 (hex) of the exact diff shown; applying re-checks it against the stored diff
      hash TEXT,
      summary TEXT NOT NULL,
      command TEXT,
      files TEXT NOT NULL DEFAULT '[]',
      trigger TEXT,
      repo TEXT NOT NULL,
      task_id TEXT,
      cost_micros INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL,
      -- ISO-8601 UTC (toISOString), so text comparison is time comparison
      expires_at TEXT NOT NULL,
      -- 'applying' is held only while an approved proposal is being written into the user's tree;
      -- a row left in it by a crash is settled on start (ApprovalQueue.recoverInterrupted)
      state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'applying', 'approved', 'denied', 'expired', 'failed')),
      decided_at TEXT,
      decided_by TEXT CHECK (decided_by IN ('cli', 'notification', 'tray', 'mcp', 'expiry')),
      reason TEXT,
      applied_files TEXT
    );
    CREATE INDEX approvals_pending ON approvals (expires_at) WHERE state = 'pending';
    CREATE INDEX approvals_proposal ON approvals (proposal_id);

    -- Action tokens for notification / tray buttons: only the sha256 of each is kept. A token is
    -- bound to one approval and one action, used at most once, and dies with the approval's expiry.
    CREATE TABLE approval_tokens (
      token_hash TEXT PRIMARY KEY,
      approval_id TEXT NOT NULL REFERENCES approvals (id),
      action TEXT NOT NULL CHECK (action IN ('approve', 'deny', 'show')),
      created_at TEXT NOT NULL,
      used_at TEXT
    );
    CREATE INDEX approval_tokens_approval ON approval_tokens (approval_id);

    -- Small daemon-wide switches that must survive a restart (the pause-all flag).
    CREATE TABLE daemon_settings (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL,
      updated_at TEXT NOT NULL
    );
  `,
});

// Which tasks an approval decides for. Usually one (the task that proposed), but an identical
// proposal (same repository, same diff hash) made while one waits is collapsed into the waiting
// approval: its task is linked here, so every linked task follows the one decision.
registerMigration({
  id: 42,
  name: 'approval-tasks',
  sql: `
    CREATE TABLE approval_tasks (
      approval_id TEXT NOT NULL REFERENCES approvals (id),
      task_id TEXT NOT NULL,
      PRIMARY KEY (approval_id, task_id)
    );
    CREATE INDEX approval_tasks_task ON approval_tasks (task_id);
    INSERT INTO approval_tasks (approval_id, task_id) SELECT id, task_id FROM approvals WHERE task_id IS NOT NULL;
    -- finding the pending approval an identical proposal collapses into
    CREATE INDEX approvals_pending_hash ON approvals (repo, hash) WHERE state = 'pending';
  `,
});
