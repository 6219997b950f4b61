/**
 * Every query the daemon runs per event, per batch and per task, and every listing a person runs,
 * uses an index: the store's code runs against a real SQLite whose `prepare` is recorded, and each
 * recorded statement is then put through EXPLAIN QUERY PLAN with the arguments it ran with. A SCAN of
 * a table that grows with use, or a sort of every match to return a few rows, fails the test.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { openDb, type Db } from '../../src/store/db.js';
import { EventStore } from '../../src/store/event-store.js';
import { TaskStore } from '../../src/store/task-store.js';
import { ApprovalStore } from '../../src/store/approval-store.js';
import { isPaused, pauseStatus } from '../../src/pipeline/approvals.js';
import { spendReport } from '../../src/model/spend-report.js';
import { eventRows, taskRows } from '../../src/cli/listings.js';
import { pruneStore } from '../../src/store/retention.js';
import type { EventDraft } from '../../src/events/event.js';
import { tempDir } from '../support/temp.js';
import { evaluateRunStep, gateTaskStart } from '../../daemon/task-gate.js';
import { AuditLog } from '../../src/policy/audit.js';
import { Policy } from '../../src/policy/schema.js';

/** Tables that stay a handful of rows whatever the use; every other table grows and must not be scanned. */
const SMALL_TABLES = new Set(['repos', 'schema_migrations', 'cron_runs', 'daemon_settings', 'spend_thresholds', 'dream_runs', 'spend_task_caps']);

/**
 * Newest-first walks with a filter that nearly every row passes, allowed by name, with why. Each stops at
 * the first row that passes; a new entry here needs the same argument.
 */
const FILTERED_NEWEST_FIRST: Record<string, string> = {
  // status: the newest model call made for a task (src/model/spend-report.ts); one row per model call,
  // and nearly every call is made for a task.
  spend_reservations: 'SELECT task_id FROM spend_reservations WHERE task_id IS NOT NULL ORDER BY id DESC LIMIT 1',
};

interface Ran {
  sql: string;
  args: unknown[];
}

/** The same database, with every statement prepared through it (and the arguments it ran with) recorded. */
function recording(real: Db): { db: Db; ran: Ran[] } {
  const ran: Ran[] = [];
  const wrapStatement = (stmt: Database.Statement, sql: string): Database.Statement => {
    const proxy: Database.Statement = new Proxy(stmt, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (typeof v !== 'function') return v;
        if (prop === 'run' || prop === 'get' || prop === 'all' || prop === 'iterate') {
          return (...args: unknown[]) => {
            ran.push({ sql, args });
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        // pluck(), raw(), expand() return the statement itself: keep returning the recording one.
        return (...args: unknown[]) => {
          const r = (v as (...a: unknown[]) => unknown).apply(target, args);
          return r === target ? proxy : r;
        };
      },
    });
    return proxy;
  };
  const db = new Proxy(real, {
    get(target, prop) {
      if (prop === 'prepare') return (sql: string) => wrapStatement(target.prepare(sql), sql);
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { db, ran };
}

/** Plan lines that would make the statement cost more as the store grows, with why. */
function planProblems(db: Db, r: Ran): string[] {
  const sql = r.sql.replace(/\s+/g, ' ').trim();
  if (!/^(SELECT|UPDATE|DELETE|INSERT|WITH)/i.test(sql)) return [];
  const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...r.args) as { detail: string }[];
  const problems: string[] = [];
  // Walking the table newest-first with no filter stops after LIMIT rows: cheap whatever the size.
  const newestFirst = /ORDER BY id DESC LIMIT/i.test(sql) && (!/\bWHERE\b/i.test(sql) || Object.values(FILTERED_NEWEST_FIRST).includes(sql));
  for (const { detail } of rows) {
    const scan = /^SCAN (\S+)(?: USING (?:COVERING )?INDEX (\S+))?/.exec(detail);
    // A partial index holds only the rows its WHERE admits (open approvals, queued tasks): small by design.
    const partial = scan?.[2] !== undefined && isPartialIndex(db, scan[2]);
    if (scan && scan[1] !== 'CONSTANT' && !SMALL_TABLES.has(scan[1]!) && !newestFirst && !partial) problems.push(`${detail} (a scan of a growing table)`);
    if (/USE TEMP B-TREE FOR ORDER BY/.test(detail) && /\bLIMIT\b/i.test(sql)) problems.push(`${detail} (sorts every match to return a few)`);
  }
  return problems.map((p) => `${sql}\n    → ${p}`);
}

function isPartialIndex(db: Db, name: string): boolean {
  const row = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?").get(name) as { sql: string | null } | undefined;
  return /\bWHERE\b/i.test(row?.sql ?? '');
}

function assertIndexed(db: Db, ran: Ran[], what: string): void {
  assert.ok(ran.length > 0, `${what}: nothing was recorded, so nothing was checked`);
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const r of ran) {
    const key = `${r.sql}\0${JSON.stringify(r.args)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(...planProblems(db, r));
  }
  assert.deepEqual(problems, [], `${what}: these statements do not use an index:\n${problems.join('\n')}`);
}

const temp = tempDir('kairos-plans-');
after(() => temp.cleanup());
const REPO = '/r/app';

function seed(db: Db): void {
  const events = new EventStore(db);
  const drafts: EventDraft[] = [];
  for (let i = 0; i < 2000; i++) {
    drafts.push({ type: i % 50 === 0 ? 'git.commit' : 'file.changed', repo: i % 3 ? REPO : '/r/lib', at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), origin: 'user', path: `src/f${i}.ts`, data: {} } as EventDraft);
  }
  const stored = events.appendMany(drafts);
  const tasks = new TaskStore(db);
  for (let i = 0; i < 200; i += 10) {
    const ids = stored.slice(i, i + 10).map((e) => e.id);
    const { taskId } = tasks.createBatchTask({ repo: REPO, trigger: 'test', kind: 'command', command: 'true', eventIds: ids, paths: ['a'], at: new Date(Date.UTC(2026, 0, 1, 1, 0, i)).toISOString() });
    tasks.move(taskId, 'queued', 'running', '2026-01-01T01:00:00.000Z');
    tasks.move(taskId, 'running', 'done', '2026-01-01T01:00:01.000Z', { exit_code: 0 });
  }
  events.markSettled(stored.map((e) => e.id), '2026-01-01T02:00:00.000Z');
}

describe('every hot-path and listing query uses an index (EXPLAIN QUERY PLAN)', () => {
  const real = openDb(path.join(temp.dir, 'plans.db'));
  seed(real);
  after(() => real.close());

  test('the recorder sees what runs, and the check catches a scan (so the tests below can fail)', () => {
    const { db, ran } = recording(real);
    db.prepare("SELECT * FROM events WHERE data = '{}' LIMIT 1").get();
    assert.equal(ran.length, 1);
    assert.equal(planProblems(real, ran[0]!).length, 1, 'a filter on an unindexed column must be reported');
    db.prepare('SELECT * FROM tasks WHERE command = ? ORDER BY id DESC LIMIT 5').all('x');
    assert.equal(planProblems(real, ran[1]!).length, 1, 'a filtered newest-first walk is a scan too');
  });

  test('ingest and settle: events stored, matched against batches, settled', () => {
    const { db, ran } = recording(real);
    const events = new EventStore(db);
    const tasks = new TaskStore(db);
    const stored = db.transaction(() =>
      events.appendMany([
        { type: 'file.changed', repo: REPO, at: new Date().toISOString(), origin: 'user', path: 'src/x.ts', data: {} } as EventDraft,
        { type: 'manual', repo: REPO, at: new Date().toISOString(), origin: 'user', data: {} } as EventDraft,
      ]),
    )();
    for (const e of stored) tasks.triggersHolding(e.id);
    events.markSettled([stored[0]!.id], new Date().toISOString());
    assertIndexed(real, ran, 'ingest/settle');
  });

  test('batch creation (new and joining a queued task), batchHasPoke, the task queue and a run', () => {
    const { db, ran } = recording(real);
    const events = new EventStore(db);
    const tasks = new TaskStore(db);
    const at = new Date().toISOString();
    const [a, b] = events.appendMany([
      { type: 'file.changed', repo: REPO, at, origin: 'user', path: 'src/a.ts', data: {} } as EventDraft,
      { type: 'manual', repo: REPO, at, origin: 'user', data: {} } as EventDraft,
    ]);
    const first = tasks.createBatchTask({ repo: REPO, trigger: 'lint', kind: 'command', command: 'true', eventIds: [a!.id], paths: ['src/a.ts'], at });
    const joined = tasks.createBatchTask({ repo: REPO, trigger: 'lint', kind: 'command', command: 'true', eventIds: [b!.id], paths: [], at });
    assert.equal(joined.joined, true);
    assert.equal(tasks.batchHasPoke(first.batchId), true);
    tasks.queued();
    tasks.get(first.taskId);
    // The gate and the cool-down before the start; the report after it.
    tasks.startsSince(REPO, new Date(Date.now() - 3_600_000).toISOString());
    tasks.lastStarted(REPO, 'lint');
    tasks.hold(first.taskId, 'quiet hours (22:00–07:00)', at, at); // the gate held it once
    tasks.move(first.taskId, 'queued', 'running', at);
    tasks.patchData(first.taskId, { pid: 1 });
    tasks.batchPaths(first.batchId);
    tasks.move(first.taskId, 'running', 'done', at, { exit_code: 0, output: '' });
    tasks.lastFinished(REPO, 'lint', first.taskId);
    tasks.list({ repo: REPO, limit: 1 }); // ambient's lastTaskId
    assertIndexed(real, ran, 'batch/task path');
  });

  test("a task's start: the gate, the run step's layers and their audit rows; events replayed or offered after settling", () => {
    const { db, ran } = recording(real);
    const events = new EventStore(db);
    const tasks = new TaskStore(db);
    const audit = new AuditLog(db);
    const at = new Date().toISOString();
    const [e] = events.appendMany([{ type: 'file.changed', repo: REPO, at, origin: 'user', path: 'src/g.ts', data: {} } as EventDraft]);
    const { taskId } = tasks.createBatchTask({ repo: REPO, trigger: 'gated', kind: 'command', command: 'true', eventIds: [e!.id], paths: ['src/g.ts'], at });
    const task = tasks.get(taskId)!;
    const policy = Policy.parse({ triggers: [{ name: 'gated', on: { fs: ['src/**'] }, run: 'true', notify: 'never' }] });
    const ctx = { policy, trust: 'trusted' as const, fromRepo: false, audit, kairosHome: temp.dir };
    assert.equal(gateTaskStart(task, { ...ctx, tasks, lastUserEdit: undefined, paused: isPaused(db) }).go, true);
    tasks.move(taskId, 'queued', 'running', at);
    assert.equal(evaluateRunStep(task, 'true', { ...ctx, paused: false }).verdict.decision, 'allow');
    events.byIds([e!.id]);
    events.unsettled();
    events.pendingFileStates(REPO);
    assertIndexed(real, ran, 'task start');
  });

  test('status: event count, queue, pause flag, spend, approvals pending', () => {
    const events = new EventStore(real);
    events.count(); // counted once at daemon start; kept up to date by its own writes after that
    const { db, ran } = recording(real);
    const counted = new EventStore(db);
    // The daemon's EventStore was primed at start: simulate by priming this one outside the recording.
    (counted as unknown as { total: number }).total = events.count();
    counted.count();
    new TaskStore(db).queued();
    new TaskStore(db).held();
    isPaused(db);
    pauseStatus(db);
    spendReport(db, { day_usd: 5 }, Date.now());
    new ApprovalStore(db).pending(new Date().toISOString());
    new ApprovalStore(db).due(new Date().toISOString());
    assertIndexed(real, ran, 'status');
  });

  test('kairos events --limit 50 [--type …] [--repo …] and kairos tasks [--repo …] [--state …]', () => {
    const { db, ran } = recording(real);
    eventRows(db, { limit: 50 });
    eventRows(db, { limit: 50, type: ['git.commit'] });
    const two = eventRows(db, { limit: 50, type: ['git.commit', 'manual'] });
    assert.ok(two.length > 0 && two.every((e, i) => i === 0 || two[i - 1]!.id > e.id), 'merged newest first');
    eventRows(db, { limit: 50, repo: REPO });
    eventRows(db, { limit: 50, repo: REPO, type: ['git.commit'] });
    taskRows(db, { limit: 50 });
    taskRows(db, { limit: 50, repo: REPO });
    taskRows(db, { limit: 50, state: 'done' });
    assertIndexed(real, ran, 'listings');
  });

  test('the retention prune walks indexes too (it runs beside the watcher on a big store)', async () => {
    const { db, ran } = recording(real);
    await pruneStore(db, { events_days: 1, tasks_days: 1 }, { now: new Date('2026-03-01T00:00:00Z'), chunk: 100, pause: () => Promise.resolve() });
    assertIndexed(real, ran, 'retention');
  });
});
