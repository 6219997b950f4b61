import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { StoreError } from '../core/errors.js';
import type { Db } from '../store/db.js';
import { rowHash, verifyChain, GENESIS_HASH, type ChainReport, type HashedRow } from '../store/audit-chain.js';
import { AuditStore, type AuditRowQuery, type StoredAuditRow } from '../store/audit-store.js';
import type { Decision, Step, Verdict } from './decision.js';
import { redactText } from './filter.js';
import { memoizedRedaction } from './redact/redact-memo.js';
import { formatToolCall } from './rules.js';

/** The layers, in the order they run. */
export const LAYER_NAMES = ['validate', 'trust', 'gate', 'spend', 'permission', 'sandbox', 'approval', 'filter'] as const;
export type LayerName = (typeof LAYER_NAMES)[number];

/**
 * A layer that has nothing to decide for a kind of step (the spend layer for a file read, the
 * permission layer for a trigger's own command) says so, rather than a made-up allow.
 */
export interface NotApplicable {
  decision: 'n/a';
  reason?: string;
}
export type LayerVerdict = Verdict | NotApplicable;
export type AuditVerdict = LayerVerdict['decision'];

export function notApplicable(reason?: string): NotApplicable {
  return reason === undefined ? { decision: 'n/a' } : { decision: 'n/a', reason };
}

/**
 * Steps the layers never evaluate but the audit records: a human's decision on an approval (or the
 * clock's), an undo, a change of trust, a policy reload. Their real decision is made by the code
 * that owns them (the approval queue, trust.ts, the daemon), which passes it in as layer verdicts.
 */
export type AuditAction =
  | Step['action']
  | { type: 'approval'; decision: 'approve' | 'deny' | 'expire' | 'collapse'; approval: string; channel: string; proposal?: string | null | undefined }
  | { type: 'undo'; proposal: string; force?: boolean | undefined }
  | { type: 'trust'; change: 'trust' | 'untrust'; digest?: string | undefined }
  | { type: 'reload'; detail: string };

export interface AuditStep {
  repo: string;
  taskId?: number | null | undefined;
  trigger?: string | null | undefined;
  /** 'daemon': the daemon on its own account (an expiry, a reload it noticed). */
  origin: Step['origin'] | 'daemon';
  action: AuditAction;
}

/**
 * A developer's hook that blocked a step before the layers ran (PreToolUse, BeforeModelCall): the
 * user's own rule, so it is recorded where rules decide — the permission layer.
 */
export function recordHookBlock(audit: AuditLog, step: AuditStep, hook: string, reason: string): void {
  audit.record(step, { permission: { decision: 'deny', reason: `blocked by a ${hook} hook: ${reason}`, rule: `${hook} hook` } }, { otherwise: `not reached: blocked by a ${hook} hook` });
}

/** The repository column of a step that concerns no one repository (the user's policy, an unwatched home). */
export const ALL_REPOS = '*';

export interface AuditEntry {
  evalId: string;
  at: Date;
  step: AuditStep;
  layer: LayerName;
  verdict: LayerVerdict;
  final?: Decision;
}

/** An audit row with its layer, verdict and decision typed (the store keeps them as text). */
export type AuditRow = Omit<StoredAuditRow, 'layer' | 'verdict' | 'final'> & {
  layer: LayerName;
  verdict: AuditVerdict;
  final: Decision | null;
};

/** The three text columns the store keeps as plain TEXT, read back into their closed sets. */
const AuditRowNames = z.object({
  layer: z.enum(LAYER_NAMES),
  verdict: z.enum(['allow', 'ask', 'deny', 'n/a']) satisfies z.ZodType<AuditVerdict>,
  final: z.enum(['allow', 'ask', 'deny']).nullable() satisfies z.ZodType<Decision | null>,
});

function auditRow(r: StoredAuditRow): AuditRow {
  const names = AuditRowNames.safeParse(r);
  if (!names.success) throw new StoreError(`audit row ${r.id} holds a layer, verdict or decision this version does not know: ${names.error.message}`, { cause: names.error });
  return { ...r, ...names.data };
}

/** One line saying what a step would do, e.g. `Bash(npm test)` or `model claude-x (1200+4096 tokens)`. */
export function describeStep(step: AuditStep): string {
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
    case 'approval':
      return `${a.decision} approval ${a.approval}${a.proposal ? ` (proposal ${a.proposal})` : ''} via ${a.channel}`;
    case 'undo':
      return `undo proposal ${a.proposal}${a.force ? ' (--force)' : ''}`;
    case 'trust':
      return a.change === 'trust' ? `trust repository${a.digest ? ` (pinned ${a.digest.slice(0, 12)})` : ''}` : 'revoke trust';
    case 'reload':
      return `policy reload: ${a.detail}`;
  }
}

const RANK: Record<AuditVerdict, number> = { 'n/a': -1, allow: 0, ask: 1, deny: 2 };

/** The strictest real verdict (the first of that strictness); allow when every layer had nothing to say. */
export function strictest(verdicts: readonly LayerVerdict[]): Verdict {
  let worst: Verdict = { decision: 'allow' };
  for (const v of verdicts) if (v.decision !== 'n/a' && RANK[v.decision] > RANK[worst.decision]) worst = v;
  return worst;
}

export type AuditQuery = AuditRowQuery;

/**
 * Writes verdicts to the audit table, hash-chained (src/store/audit-chain.ts). The description and
 * reason are redacted first: a command line can carry a token (`curl -H "Authorization: Bearer …"`),
 * and the audit outlives it. The hash covers the redacted text, as stored.
 */
export class AuditLog {
  /** The audit's rows (src/store/audit-store.ts). */
  private readonly store: AuditStore;
  constructor(
    private readonly db: Db,
    private readonly knownSecrets: readonly string[] = [],
  ) {
    this.store = new AuditStore(db);
  }

  /** Redaction of each distinct text once (redact-memo.ts): a task start writes a row per layer with the same description and reasons. */
  private readonly redacted = memoizedRedaction((text) => redactText(text, { knownSecrets: this.knownSecrets }));

  /**
   * Appends the rows and moves the head, in one transaction that takes the write lock before it
   * reads the head (BEGIN IMMEDIATE), so two connections can never link two rows to the same one.
   * Inside a caller's transaction it joins that one (which must then be IMMEDIATE, or already hold
   * the write lock, for the same guarantee).
   */
  write(entries: readonly AuditEntry[]): void {
    if (entries.length === 0) return;
    const clean = (s: string | undefined): string | null => (s === undefined ? null : this.redacted(s));
    const append = (): void => {
      const head = this.store.head();
      let prev = head?.hash ?? GENESIS_HASH;
      let lastId = head?.last_id ?? 0;
      let count = head?.count ?? 0;
      for (const e of entries) {
        const row: HashedRow = {
          at: e.at.toISOString(),
          repo: e.step.repo,
          task_id: e.step.taskId ?? null,
          trigger: e.step.trigger ?? null,
          origin: e.step.origin,
          what: clean(describeStep(e.step)) ?? '',
          layer: e.layer,
          verdict: e.verdict.decision,
          reason: clean(e.verdict.reason),
          rule: clean('rule' in e.verdict ? e.verdict.rule : undefined),
          queued: e.verdict.decision === 'ask' && e.verdict.queued ? 1 : 0,
          final: e.final ?? null,
          eval_id: e.evalId,
        };
        const hash = rowHash(row, prev);
        lastId = this.store.insertRow({ ...row, prev_hash: prev, hash });
        prev = hash;
        count++;
      }
      this.store.moveHead(lastId, count, prev, new Date().toISOString());
    };
    this.store.appending(append);
  }

  /**
   * Records one step decided outside the layer functions: every layer gets a row, those not given
   * say `n/a`. The final verdict is the strictest given. Returns the evaluation id and that verdict.
   */
  record(step: AuditStep, verdicts: Partial<Record<LayerName, LayerVerdict>>, opts: { at?: Date; otherwise?: string } = {}): { evalId: string; verdict: Verdict } {
    const evalId = randomUUID();
    const at = opts.at ?? new Date();
    const given = LAYER_NAMES.map((layer) => ({ layer, verdict: verdicts[layer] ?? notApplicable(opts.otherwise) }));
    const verdict = strictest(given.map((g) => g.verdict));
    this.write(given.map((g) => ({ evalId, at, step, layer: g.layer, verdict: g.verdict, final: verdict.decision })));
    return { evalId, verdict };
  }

  /** Most recent first. */
  recent(opts: AuditQuery = {}): AuditRow[] {
    return this.store.recent(opts).map(auditRow);
  }

  /**
   * One line naming the chain's head, for the daily log: a copy of the head outside the database,
   * so a chain rewritten wholesale (every hash recomputed) no longer ends where the log said it did.
   */
  anchor(): string {
    const h = this.store.head();
    return h ? `audit head: row ${h.last_id} (${h.count} rows from ${h.first_id}), sha256 ${h.hash}` : 'audit head: no rows yet';
  }

  /** Walks the chain: ok, or the first changed, inserted or deleted row. */
  verify(): ChainReport {
    return verifyChain(this.db);
  }

  /**
   * Retention: removes the rows before `keepFromId` and moves the chain's start to that row (its
   * prev_hash becomes the start link), in one transaction. Verification then starts there; the
   * removal is on the record in the head, never a silent gap. Returns how many rows went.
   */
  prune(keepFromId: number): number {
    return this.store.prune(keepFromId);
  }
}
