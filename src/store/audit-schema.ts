import { registerMigration } from './migrations.js';
import { chainUnlinkedRows } from './audit-chain.js';

// Migrations 20-29: policy audit (src/policy/audit.ts, src/store/audit-chain.ts).
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

/**
 * Migration 21: the hash chain (src/store/audit-chain.ts) and the 'n/a' verdict.
 * SQLite cannot change a CHECK in place, so the table is rebuilt with the same ids; the id
 * sequence is carried over so ids of rows deleted before the migration are never reused. Rows
 * written before the chain existed are linked here, in id order, deterministically. After that the
 * table is append-only by triggers (UPDATE refused; DELETE refused except below the head's
 * first_id, which only AuditLog.prune moves): a guard against Kairos's own code, not against an
 * attacker, who can drop triggers too — the chain is what catches them.
 */
registerMigration({
  id: 21,
  name: 'audit-hash-chain',
  sql: `
    CREATE TABLE audit_chained (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at TEXT NOT NULL,
      repo TEXT NOT NULL,
      task_id INTEGER,
      trigger TEXT,
      origin TEXT NOT NULL,
      what TEXT NOT NULL,
      layer TEXT NOT NULL,
      -- 'n/a': the layer had nothing to decide for this kind of step (never a made-up allow)
      verdict TEXT NOT NULL CHECK (verdict IN ('allow', 'ask', 'deny', 'n/a')),
      reason TEXT,
      rule TEXT,
      queued INTEGER NOT NULL DEFAULT 0,
      final TEXT,
      eval_id TEXT NOT NULL,
      -- sha256 of the row before (GENESIS for the first) and of this row's content with that link
      prev_hash TEXT NOT NULL DEFAULT '',
      hash TEXT NOT NULL DEFAULT ''
    );
    INSERT INTO sqlite_sequence (name, seq) SELECT 'audit_chained', seq FROM sqlite_sequence WHERE name = 'audit';
    INSERT INTO audit_chained (id, at, repo, task_id, trigger, origin, what, layer, verdict, reason, rule, queued, final, eval_id)
      SELECT id, at, repo, task_id, trigger, origin, what, layer, verdict, reason, rule, queued, final, eval_id FROM audit ORDER BY id;
    DROP TABLE audit;
    ALTER TABLE audit_chained RENAME TO audit;
    CREATE INDEX audit_repo_at ON audit (repo, at);
    CREATE INDEX audit_task ON audit (task_id) WHERE task_id IS NOT NULL;
    CREATE INDEX audit_eval ON audit (eval_id);

    -- The chain's ends and length, moved in the same transaction as every append: a deleted tail
    -- or a row added behind the writer's back no longer matches it.
    CREATE TABLE audit_head (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      first_id INTEGER NOT NULL,
      first_prev_hash TEXT NOT NULL,
      last_id INTEGER NOT NULL,
      count INTEGER NOT NULL,
      hash TEXT NOT NULL,
      updated_at TEXT NOT NULL
    );
  `,
  run: (db) => {
    chainUnlinkedRows(db, new Date().toISOString());
    db.exec(`
      CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit table is append-only'); END;
      CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        WHEN old.id >= (SELECT first_id FROM audit_head WHERE id = 1)
        BEGIN SELECT RAISE(ABORT, 'audit rows are removed only by pruning the oldest (AuditLog.prune)'); END;
    `);
  },
});
