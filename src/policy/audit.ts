import type { Db } from '../store/db.js';
import type { Decision, Step, Verdict } from './decision.js';
import { redactText } from './filter.js';
import { formatToolCall } from './rules.js';

/** The layers, in the order they run. */
export const LAYER_NAMES = ['validate', 'trust', 'gate', 'spend', 'permission', 'sandbox', 'approval', 'filter'] as const;
export type LayerName = (typeof LAYER_NAMES)[number];

export interface AuditEntry {
  evalId: string;
  at: Date;
  step: Step;
  layer: LayerName;
  verdict: Verdict;
  final?: Decision;
}

export interface AuditRow {
  id: number;
  at: string;
  repo: string;
  task_id: number | null;
  trigger: string | null;
  origin: string;
  what: string;
  layer: LayerName;
  verdict: Decision;
  reason: string | null;
  rule: string | null;
  queued: number;
  final: Decision | null;
  eval_id: string;
}

/** One line saying what a step would do, e.g. `Bash(npm test)` or `model claude-x (1200+4096 tokens)`. */
export function describeStep(step: Step): string {
  const a = step.action;
  switch (a.type) {
    case 'tool':
      return formatToolCall(a.call);
    case 'run':
      return `run ${a.command}`;
    case 'task':
      return `start ${a.kind} task`;
    case 'model':
      return `model ${a.model} (${a.inputTokens}+${a.maxTokens} tokens)`;
    case 'apply':
      return `apply to ${a.target}: ${a.detail}`;
  }
}

/**
 * Writes verdicts to the audit table. The description and reason are redacted first: a command
 * line can carry a token (`curl -H "Authorization: Bearer …"`), and the audit outlives it.
 */
export class AuditLog {
  private readonly insert;
  constructor(
    private readonly db: Db,
    private readonly knownSecrets: readonly string[] = [],
  ) {
    this.insert = db.prepare(
      `INSERT INTO audit (at, repo, task_id, trigger, origin, what, layer, verdict, reason, rule, queued, final, eval_id)
       VALUES (@at, @repo, @task_id, @trigger, @origin, @what, @layer, @verdict, @reason, @rule, @queued, @final, @eval_id)`,
    );
  }

  write(entries: readonly AuditEntry[]): void {
    const clean = (s: string | undefined): string | null => (s === undefined ? null : redactText(s, { knownSecrets: this.knownSecrets }));
    this.db.transaction(() => {
      for (const e of entries) {
        this.insert.run({
          at: e.at.toISOString(),
          repo: e.step.repo,
          task_id: e.step.taskId ?? null,
          trigger: e.step.trigger ?? null,
          origin: e.step.origin,
          what: clean(describeStep(e.step)),
          layer: e.layer,
          verdict: e.verdict.decision,
          reason: clean(e.verdict.reason),
          rule: clean(e.verdict.rule),
          queued: e.verdict.decision === 'ask' && e.verdict.queued ? 1 : 0,
          final: e.final ?? null,
          eval_id: e.evalId,
        });
      }
    })();
  }

  /** Most recent first. */
  recent(opts: { repo?: string; taskId?: number; limit?: number } = {}): AuditRow[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (opts.repo !== undefined) {
      where.push('repo = ?');
      args.push(opts.repo);
    }
    if (opts.taskId !== undefined) {
      where.push('task_id = ?');
      args.push(opts.taskId);
    }
    const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return this.db.prepare(sql).all(...args, opts.limit ?? 100) as AuditRow[];
  }
}
