import type { Db } from './db.js';

/** Queries over the `decisions` table (src/store/decision-schema.ts). */

export type DecisionSource = 'batch' | 'cron' | 'poke' | 'ambient';
export type DecisionStage = 'rules' | 'heuristic' | 'triage' | 'action';
export type DecisionOutcome = 'act' | 'sleep' | 'later' | 'rules';
export type Urgency = 'now' | 'next' | 'later';

export interface DecisionRecord {
  repo: string;
  at: number;
  source: DecisionSource;
  eventIds: readonly number[];
  batchId?: number | undefined;
  trigger?: string | undefined;
  stage: DecisionStage;
  outcome: DecisionOutcome;
  why: string;
  urgency?: Urgency | undefined;
  task?: string | undefined;
  model?: string | undefined;
  costMicro: number;
  contentHash: string;
  /** A model answered about this content (even unusably), so the same content need not be asked about again. */
  looked: boolean;
}

export interface DecisionRow {
  id: number;
  repo: string;
  at: number;
  source: DecisionSource;
  event_ids: string;
  batch_id: number | null;
  trigger: string | null;
  stage: DecisionStage;
  outcome: DecisionOutcome;
  why: string;
  urgency: Urgency | null;
  task: string | null;
  model: string | null;
  cost_micros: number;
  content_hash: string;
  looked: number;
}

export function recordDecision(db: Db, d: DecisionRecord): number {
  const info = db
    .prepare(
      `INSERT INTO decisions (repo, at, source, event_ids, batch_id, trigger, stage, outcome, why, urgency, task, model, cost_micros, content_hash, looked)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      d.repo,
      d.at,
      d.source,
      JSON.stringify(d.eventIds),
      d.batchId ?? null,
      d.trigger ?? null,
      d.stage,
      d.outcome,
      d.why,
      d.urgency ?? null,
      d.task ?? null,
      d.model ?? null,
      d.costMicro,
      d.contentHash,
      d.looked ? 1 : 0,
    );
  return Number(info.lastInsertRowid);
}

/**
 * The last item a model actually answered about for this repository: its content hash and when.
 * Items deferred, put to sleep for want of budget, or whose call failed were not looked at, so they
 * do not count: the same content is still worth a look once the user steps away or money is back.
 */
export function lastLook(db: Db, repo: string): { contentHash: string; at: number } | undefined {
  const r = db
    .prepare<[string], { content_hash: string; at: number }>(`SELECT content_hash, at FROM decisions WHERE repo = ? AND looked = 1 ORDER BY id DESC LIMIT 1`)
    .get(repo);
  return r && { contentHash: r.content_hash, at: r.at };
}

/** The outcomes of the last `limit` decisions a model answered about, newest first. */
export function recentLooks(db: Db, repo: string, limit: number): Array<{ at: number; outcome: DecisionOutcome }> {
  return db.prepare<[string, number], { at: number; outcome: DecisionOutcome }>(`SELECT at, outcome FROM decisions WHERE repo = ? AND looked = 1 ORDER BY id DESC LIMIT ?`).all(repo, limit);
}

/**
 * What a model should see of its own past: the last `limit` looked-at decisions, plus the last
 * few it acted on even when older (so it does not forget it already asked for a fix and ask again).
 * Oldest first.
 */
export function decisionsForContext(db: Db, repo: string, limit = 5, acts = 3): DecisionRow[] {
  const rows = db
    .prepare<[string, number, string, number], DecisionRow>(
      `SELECT * FROM decisions WHERE id IN (
         SELECT id FROM (SELECT id FROM decisions WHERE repo = ? AND looked = 1 ORDER BY id DESC LIMIT ?)
         UNION
         SELECT id FROM (SELECT id FROM decisions WHERE repo = ? AND outcome = 'act' ORDER BY id DESC LIMIT ?)
       ) ORDER BY id`,
    )
    .all(repo, limit, repo, acts);
  return rows;
}
