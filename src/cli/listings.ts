import fs from 'node:fs';
import { openDb, storePath, type Db } from '../store/db.js';
import { EventStore } from '../store/event-store.js';
import { TaskStore, type TaskRow } from '../store/task-store.js';
import { ProposalStore, proposalListing } from '../store/proposal-store.js';
import { ApprovalStore } from '../store/approval-store.js';
import { printJson, printTable } from './output.js';
import { heldText } from './status-view.js';

/** Listings read the store directly (SQLite WAL allows it while the daemon writes), so they work with the daemon down. */
function openExistingStore(home: string): Db {
  if (!fs.existsSync(storePath(home))) throw new Error(`no Kairos store in ${home} yet; start the daemon with 'kairos start --repo DIR'`);
  return openDb(storePath(home));
}

export function withStore<T>(home: string, fn: (db: Db) => T): T {
  const db = openExistingStore(home);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** As withStore, for work that finishes later: the store stays open until it has. */
export async function withStoreAsync<T>(home: string, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = openExistingStore(home);
  try {
    return await fn(db);
  } finally {
    db.close();
  }
}

/** What `kairos events` lists (kept apart from printing so its queries can be checked, see test/store/query-plans.test.ts). */
export function eventRows(db: Db, o: { repo?: string | undefined; limit: number; type?: string[] | undefined }): ReturnType<EventStore['list']> {
  return new EventStore(db).list({ repo: o.repo, limit: o.limit, types: o.type });
}

export function listEvents(home: string, o: { json: boolean; repo?: string; limit: number; type?: string[] }): void {
  const rows = withStore(home, (db) => eventRows(db, o));
  if (o.json) return printJson(rows);
  printTable(
    rows.map((e) => ({ id: e.id, at: e.at, type: e.type, repo: e.repo, path: e.path ?? summariseData(e.data) })),
    ['id', 'at', 'type', 'path', 'repo'],
  );
}

export function taskJson(t: TaskRow, paths: string[], proposal?: ReturnType<typeof proposalListing>): Record<string, unknown> {
  return {
    ...t.data,
    id: t.id,
    repo: t.repo,
    trigger: t.trigger,
    kind: t.kind,
    state: t.state,
    command: t.command,
    exit_code: t.exit_code,
    signal: t.signal,
    duration_ms: t.duration_ms,
    created_at: t.created_at,
    started_at: t.started_at,
    finished_at: t.finished_at,
    // A queued task has no result yet: its reason is why the gate holds it (quiet hours, pause, …), if it does.
    reason: t.reason ?? (t.state === 'queued' ? t.held_reason : null),
    held_reason: t.state === 'queued' ? t.held_reason : null,
    held_until: t.state === 'queued' ? t.held_until : null,
    held_since: t.state === 'queued' ? t.held_since : null,
    output: t.output,
    batch_id: t.batch_id,
    paths,
    ...(proposal ? { proposal } : {}),
    // A row whose stored JSON did not fully parse says so (its text is kept in the store as it was).
    ...(t.data_problem ? { data_problem: t.data_problem } : {}),
  };
}

/** What `kairos tasks` lists. */
export function taskRows(db: Db, o: { repo?: string | undefined; limit: number; state?: string | undefined }): Array<Record<string, unknown>> {
  const store = new TaskStore(db);
  const proposals = new ProposalStore(db);
  const approvals = new ApprovalStore(db);
  return store.list({ repo: o.repo, limit: o.limit, state: o.state }).map((t) => {
    // A task whose identical proposal was collapsed into a waiting one follows that approval's proposal.
    const approvalId = t.data.approval_id;
    const followed = approvalId !== undefined ? approvals.get(approvalId)?.proposalId : undefined;
    const p = t.kind === 'agent' ? ((followed ? proposals.get(followed) : null) ?? proposals.forTask(t.id)[0]) : undefined;
    return taskJson(t, t.batch_id ? store.batchPaths(t.batch_id) : [], p ? proposalListing(p) : undefined);
  });
}

export function listTasks(home: string, o: { json: boolean; repo?: string; limit: number; state?: string }): void {
  const rows = withStore(home, (db) => taskRows(db, o));
  if (o.json) return printJson(rows);
  printTable(
    rows.map((t) => ({ ...t, paths: Array.isArray(t.paths) ? t.paths.length : 0, result: resultText(t) })),
    ['id', 'trigger', 'state', 'result', 'duration_ms', 'paths', 'created_at', 'command'],
  );
}

/** The `result` column: why a held task waits and until when, else the task's reason or exit code. */
function resultText(t: Record<string, unknown>): unknown {
  if (typeof t.held_reason === 'string') return heldText(t.held_reason, typeof t.held_until === 'string' ? t.held_until : null);
  return t.reason ?? t.exit_code ?? '';
}

function summariseData(data: unknown): string {
  if (!data || typeof data !== 'object') return '';
  return Object.entries(data)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}
