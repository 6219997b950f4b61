import { z } from 'zod';
import type { Db } from './db.js';
import { randomProposalId } from './proposal-store.js';
import { StoreError, errnoCode } from '../core/errors.js';

export const ApprovalKind = z.enum(['proposal', 'command']);
export type ApprovalKind = z.infer<typeof ApprovalKind>;

/** pending → applying → approved | failed, pending → denied | expired. Only `pending` can be decided. */
export const ApprovalState = z.enum(['pending', 'applying', 'approved', 'denied', 'expired', 'failed']);
export type ApprovalState = z.infer<typeof ApprovalState>;

/** Who decided: the human's channel, or the clock. */
export const ApprovalChannel = z.enum(['cli', 'notification', 'tray', 'mcp', 'expiry']);
export type ApprovalChannel = z.infer<typeof ApprovalChannel>;

/** The channels a human decides through (the clock is not one). */
export const HumanChannel = ApprovalChannel.exclude(['expiry']);
export type HumanChannel = z.infer<typeof HumanChannel>;

export const TokenAction = z.enum(['approve', 'deny', 'show']);
export type TokenAction = z.infer<typeof TokenAction>;

export const Approval = z.object({
  id: z.string().min(1),
  kind: ApprovalKind,
  proposalId: z.string().nullable(),
  /** sha256 (hex) of the diff as shown; null for a command approval. */
  hash: z.string().nullable(),
  summary: z.string(),
  command: z.string().nullable(),
  files: z.array(z.string()),
  trigger: z.string().nullable(),
  repo: z.string(),
  taskId: z.string().nullable(),
  costMicros: z.number().int().nonnegative(),
  createdAt: z.string(),
  expiresAt: z.string(),
  state: ApprovalState,
  decidedAt: z.string().nullable(),
  decidedBy: ApprovalChannel.nullable(),
  reason: z.string().nullable(),
  /** The files the apply actually wrote (approved only). */
  appliedFiles: z.array(z.string()).nullable(),
});
export type Approval = z.infer<typeof Approval>;

/**
 * The daemon task an approval decides for, as the tasks table numbers it; null when there is none.
 * `task_id` is text because a proposal can come from outside the task table (tools, tests): such
 * an id names no task, so it is null here rather than a NaN or a cast string.
 */
export function approvalTaskNumber(a: Pick<Approval, 'taskId'>): number | null {
  return a.taskId !== null && /^\d+$/.test(a.taskId) ? Number(a.taskId) : null;
}

export interface NewApproval {
  kind: ApprovalKind;
  proposalId: string | null;
  hash: string | null;
  summary: string;
  command: string | null;
  files: string[];
  trigger: string | null;
  repo: string;
  taskId: string | null;
  costMicros: number;
  createdAt: string;
  expiresAt: string;
}

export interface TokenRow {
  token_hash: string;
  approval_id: string;
  action: TokenAction;
  created_at: string;
  used_at: string | null;
}

export class ApprovalStoreError extends StoreError {
  override name = 'ApprovalStoreError';
}

interface ApprovalRow {
  id: string;
  kind: string;
  proposal_id: string | null;
  hash: string | null;
  summary: string;
  command: string | null;
  files: string;
  trigger: string | null;
  repo: string;
  task_id: string | null;
  cost_micros: number;
  created_at: string;
  expires_at: string;
  state: string;
  decided_at: string | null;
  decided_by: string | null;
  reason: string | null;
  applied_files: string | null;
}

function fromRow(r: ApprovalRow): Approval {
  return Approval.parse({
    id: r.id,
    kind: r.kind,
    proposalId: r.proposal_id,
    hash: r.hash,
    summary: r.summary,
    command: r.command,
    files: JSON.parse(r.files),
    trigger: r.trigger,
    repo: r.repo,
    taskId: r.task_id,
    costMicros: r.cost_micros,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    state: r.state,
    decidedAt: r.decided_at,
    decidedBy: r.decided_by,
    reason: r.reason,
    appliedFiles: r.applied_files === null ? null : JSON.parse(r.applied_files),
  });
}

/** Same alphabet and length as proposal ids: short to type, ~39 random bits. */
export const randomApprovalId = randomProposalId;

export interface MoveSet {
  decidedAt?: string | null;
  decidedBy?: ApprovalChannel | null;
  reason?: string | null;
  appliedFiles?: string[] | null;
}

/**
 * Rows of the approval queue and their action tokens. Every state change is one conditional UPDATE
 * (`WHERE state IN (...)`), so of two racing deciders — threads or processes — exactly one wins.
 */
export class ApprovalStore {
  constructor(readonly db: Db) {}

  /**
   * Inserts a pending approval. `preferredId` is tried first (a proposal's approval takes the
   * proposal's own id, so one id names both everywhere); if it is taken, a fresh random id is used.
   */
  insert(a: NewApproval, makeId: () => string = randomApprovalId, preferredId?: string): Approval {
    const ins = this.db.prepare(
      `INSERT INTO approvals (id, kind, proposal_id, hash, summary, command, files, trigger, repo, task_id, cost_micros, created_at, expires_at, state)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
    );
    const tries = preferredId ? 9 : 8;
    for (let attempt = 0; attempt < tries; attempt++) {
      const id = attempt === 0 && preferredId ? preferredId : makeId();
      try {
        ins.run(id, a.kind, a.proposalId, a.hash, a.summary, a.command, JSON.stringify(a.files), a.trigger, a.repo, a.taskId, a.costMicros, a.createdAt, a.expiresAt);
        if (a.taskId !== null) this.linkTask(id, a.taskId);
        return this.get(id)!;
      } catch (err) {
        if (errnoCode(err) === 'SQLITE_CONSTRAINT_PRIMARYKEY') continue;
        throw err;
      }
    }
    throw new ApprovalStoreError('could not find a free approval id after 8 tries; the id generator is not random');
  }

  get(id: string): Approval | null {
    const row = this.db.prepare<[string], ApprovalRow>('SELECT * FROM approvals WHERE id = ?').get(id);
    return row ? fromRow(row) : null;
  }

  /** Pending and not yet expired at `nowIso`, oldest first. */
  pending(nowIso: string): Approval[] {
    const rows = this.db
      .prepare<[string], ApprovalRow>("SELECT * FROM approvals WHERE state = 'pending' AND expires_at > ? ORDER BY created_at, rowid")
      .all(nowIso);
    return rows.map(fromRow);
  }

  /** Pending but past their expiry at `nowIso`. */
  due(nowIso: string): Approval[] {
    const rows = this.db
      .prepare<[string], ApprovalRow>("SELECT * FROM approvals WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at, rowid")
      .all(nowIso);
    return rows.map(fromRow);
  }

  inState(state: ApprovalState): Approval[] {
    return this.db.prepare<[ApprovalState], ApprovalRow>('SELECT * FROM approvals WHERE state = ? ORDER BY rowid').all(state).map(fromRow);
  }

  /** Approvals for one proposal that are not finally decided (pending or applying). */
  openForProposal(proposalId: string): Approval[] {
    const rows = this.db
      .prepare<[string], ApprovalRow>("SELECT * FROM approvals WHERE proposal_id = ? AND state IN ('pending', 'applying') ORDER BY rowid")
      .all(proposalId);
    return rows.map(fromRow);
  }

  /** The pending, unexpired approval of an identical proposal (same repository, same diff hash), if one waits. */
  pendingWithHash(repo: string, hash: string, nowIso: string): Approval | null {
    const row = this.db
      .prepare<[string, string, string], ApprovalRow>("SELECT * FROM approvals WHERE repo = ? AND hash = ? AND state = 'pending' AND expires_at > ? ORDER BY created_at, rowid LIMIT 1")
      .get(repo, hash, nowIso);
    return row ? fromRow(row) : null;
  }

  /** Records that the approval decides for this task too (idempotent). */
  linkTask(approvalId: string, taskId: string): void {
    this.db.prepare('INSERT OR IGNORE INTO approval_tasks (approval_id, task_id) VALUES (?, ?)').run(approvalId, taskId);
  }

  /** Every task the approval decides for, in the order they were linked. */
  linkedTasks(approvalId: string): string[] {
    const rows = this.db.prepare<[string], { task_id: string }>('SELECT task_id FROM approval_tasks WHERE approval_id = ? ORDER BY rowid').all(approvalId);
    return rows.map((r) => r.task_id);
  }

  /** The approvals that decide for a task, newest first. */
  forTask(taskId: string): Approval[] {
    const rows = this.db
      .prepare<[string], ApprovalRow>('SELECT a.* FROM approvals a JOIN approval_tasks t ON t.approval_id = a.id WHERE t.task_id = ? ORDER BY a.created_at DESC, a.rowid DESC')
      .all(taskId);
    return rows.map(fromRow);
  }

  /** Ids starting with `prefix` (lower-case letters and digits only), at most `limit`; an index range, not a scan. */
  idsWithPrefix(prefix: string, limit = 10): string[] {
    if (!/^[a-z0-9]+$/.test(prefix)) return [];
    const rows = this.db.prepare<[string, string, number], { id: string }>("SELECT id FROM approvals WHERE id >= ? AND id < ? || '~' ORDER BY id LIMIT ?").all(prefix, prefix, limit);
    return rows.map((r) => r.id).filter((id) => id.startsWith(prefix));
  }

  /** Every approval ever queued for one proposal, newest first. */
  forProposal(proposalId: string): Approval[] {
    const rows = this.db.prepare<[string], ApprovalRow>('SELECT * FROM approvals WHERE proposal_id = ? ORDER BY created_at DESC, rowid DESC').all(proposalId);
    return rows.map(fromRow);
  }

  /**
   * Moves the row from one of `from` to `to`; with `liveAt`, only if it has not expired by then.
   * False when the row was not in one of `from` (someone else decided it) or had expired.
   */
  move(id: string, from: readonly ApprovalState[], to: ApprovalState, set: MoveSet = {}, liveAt?: string): boolean {
    const cols = ['state = ?'];
    const vals: unknown[] = [to];
    if (set.decidedAt !== undefined) {
      cols.push('decided_at = ?');
      vals.push(set.decidedAt);
    }
    if (set.decidedBy !== undefined) {
      cols.push('decided_by = ?');
      vals.push(set.decidedBy);
    }
    if (set.reason !== undefined) {
      cols.push('reason = ?');
      vals.push(set.reason);
    }
    if (set.appliedFiles !== undefined) {
      cols.push('applied_files = ?');
      vals.push(set.appliedFiles === null ? null : JSON.stringify(set.appliedFiles));
    }
    let where = `id = ? AND state IN (${from.map(() => '?').join(', ')})`;
    const whereVals: unknown[] = [id, ...from];
    if (liveAt !== undefined) {
      where += ' AND expires_at > ?';
      whereVals.push(liveAt);
    }
    return this.db.prepare(`UPDATE approvals SET ${cols.join(', ')} WHERE ${where}`).run(...vals, ...whereVals).changes === 1;
  }

  addToken(tokenHash: string, approvalId: string, action: TokenAction, createdAt: string): void {
    this.db
      .prepare('INSERT INTO approval_tokens (token_hash, approval_id, action, created_at) VALUES (?, ?, ?, ?)')
      .run(tokenHash, approvalId, action, createdAt);
  }

  token(tokenHash: string): TokenRow | null {
    return this.db.prepare<[string], TokenRow>('SELECT * FROM approval_tokens WHERE token_hash = ?').get(tokenHash) ?? null;
  }

  /**
   * Marks the token used, only if it is the given approval's token for the given action, unused,
   * and the approval has not expired at `nowIso`: one conditional UPDATE, so a token is spent once.
   */
  useToken(tokenHash: string, approvalId: string, action: TokenAction, nowIso: string): boolean {
    return (
      this.db
        .prepare(
          `UPDATE approval_tokens SET used_at = ?
           WHERE token_hash = ? AND approval_id = ? AND action = ? AND used_at IS NULL
             AND EXISTS (SELECT 1 FROM approvals WHERE id = ? AND expires_at > ?)`,
        )
        .run(nowIso, tokenHash, approvalId, action, approvalId, nowIso).changes === 1
    );
  }

  setting(key: string): { value: string; updatedAt: string } | null {
    const row = this.db.prepare<[string], { value: string; updated_at: string }>('SELECT value, updated_at FROM daemon_settings WHERE key = ?').get(key);
    return row ? { value: row.value, updatedAt: row.updated_at } : null;
  }

  setSetting(key: string, value: string, at: string): void {
    this.db
      .prepare('INSERT INTO daemon_settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at')
      .run(key, value, at);
  }

  /** When the first pending approval expires (ISO), or null when none is pending. */
  nextPendingExpiry(): string | null {
    return this.db.prepare<[], string | null>("SELECT min(expires_at) FROM approvals WHERE state = 'pending'").pluck().get() ?? null;
  }

  /** Approvals with a linked task still `proposed`, `applied` or `undone`, which may lag the approval's decision. */
  withFollowingTasks(): string[] {
    const rows = this.db
      .prepare<[], { approval_id: string }>(
        `SELECT DISTINCT l.approval_id FROM tasks t JOIN approval_tasks l ON l.task_id = CAST(t.id AS TEXT)
         WHERE t.state IN ('proposed', 'applied', 'undone')`,
      )
      .all();
    return rows.map((r) => r.approval_id);
  }
}
