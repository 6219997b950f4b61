import { registerMigration } from './migrations.js';

// Migration 3: indexes for every query the daemon runs per event, per batch and per task, and for the
// listings (`kairos events`, `tasks`, `status`), so none of them scans a table that grows with the store.
// test/store/query-plans.test.ts runs EXPLAIN QUERY PLAN on each of them and fails on a scan.
registerMigration({
  id: 3,
  name: 'store-at-scale-indexes',
  sql: `
    -- batchHasPoke and a joined batch's event_count look up a batch's events; the primary key
    -- (event_id, trigger) only serves the opposite direction
    CREATE INDEX batch_events_batch ON batch_events (batch_id);
    -- 'kairos events --type T' (newest first, with and without --repo)
    CREATE INDEX events_type_id ON events (type, id);
    CREATE INDEX events_repo_type_id ON events (repo, type, id);
    -- a new batch joins the queued task of its trigger: only queued tasks are in this index
    CREATE INDEX tasks_queued ON tasks (repo, trigger, id) WHERE state = 'queued';
    -- the gate's rate limits (starts since T) and cool-downs (the trigger's last start)
    CREATE INDEX tasks_repo_started ON tasks (repo, started_at);
    CREATE INDEX tasks_trigger_started ON tasks (repo, trigger, started_at);
    -- 'kairos tasks --repo R' (newest first)
    CREATE INDEX tasks_repo_id ON tasks (repo, id);
    -- the ambient heuristics ask whether a command of the repository failed lately (src/pipeline/decide.ts)
    CREATE INDEX tasks_repo_state_finished ON tasks (repo, state, finished_at);
    -- retention deletes a task's transitions with it
    CREATE INDEX task_transitions_task ON task_transitions (task_id);
    -- retention finds the tasks of a batch before it deletes the batch
    CREATE INDEX tasks_batch ON tasks (batch_id) WHERE batch_id IS NOT NULL;
  `,
});

// Migration 60 (after the approvals table, migration 40): retention asks which tasks still have an
// approval someone may answer; only those rows are in this index.
registerMigration({
  id: 60,
  name: 'approvals-open-by-task',
  sql: `
    CREATE INDEX approvals_open_task ON approvals (task_id) WHERE state IN ('pending', 'applying');
  `,
});
