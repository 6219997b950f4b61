import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Db } from './db.js';
import { StoreError, errnoCode } from '../core/errors.js';

export const ProposalState = z.enum(['proposed', 'applying', 'applied', 'undoing', 'undone', 'discarded']);
export type ProposalState = z.infer<typeof ProposalState>;

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in lower-case hex (64 characters)');

export const Proposal = z.object({
  id: z.string().min(1),
  taskId: z.string().min(1),
  repo: z.string().min(1),
  base: z.string().regex(/^[0-9a-f]{40,64}$/),
  /** The exact diff bytes (git diff --binary); may hold non-UTF-8 bytes, so never decoded for hashing. */
  diff: z.instanceof(Buffer),
  hash: Sha256Hex,
  summary: z.string(),
  files: z.array(z.string()),
  costMicros: z.number().int().nonnegative(),
  state: ProposalState,
  createdAt: z.string(),
  appliedAt: z.string().nullable(),
  undoneAt: z.string().nullable(),
});
export type Proposal = z.infer<typeof Proposal>;

/** What one file looked like: its kind, permission bits and content hash; `content` (base64) only where it must be restored. */
export const FileState = z.object({
  kind: z.enum(['file', 'symlink']),
  /** Permission bits (st_mode & 0o7777); 0o777 for a symlink. */
  mode: z.number().int().nonnegative(),
  sha256: Sha256Hex,
  content: z.string().optional(),
});
export type FileState = z.infer<typeof FileState>;

export const UndoFile = z.object({
  /** Repository-relative, '/'-separated. */
  path: z.string().min(1),
  /** Before the apply; null when the file did not exist. Always carries content. */
  before: FileState.nullable(),
  /** After the apply, as written; null when the apply deleted it. */
  after: FileState.nullable(),
});
export type UndoFile = z.infer<typeof UndoFile>;

export const UndoPoint = z.object({
  files: z.array(UndoFile),
  /** Folders the apply created (parents first), removed again by undo when empty. */
  createdDirs: z.array(z.string()),
});
export type UndoPoint = z.infer<typeof UndoPoint>;

/** What `kairos tasks --json` shows for a task that proposed. */
export interface ProposalListing {
  id: string;
  hash: string;
  summary: string;
  files: string[];
  state: ProposalState;
}

export interface NewProposal {
  taskId: string;
  repo: string;
  base: string;
  diff: Buffer;
  hash: string;
  summary: string;
  files: string[];
  costMicros: number;
  createdAt: string;
}

export class ProposalStoreError extends StoreError {
  override name = 'ProposalStoreError';
}

interface ProposalRow {
  id: string;
  task_id: string;
  repo: string;
  base: string;
  diff: Buffer;
  hash: string;
  summary: string;
  files: string;
  cost_micros: number;
  state: string;
  created_at: string;
  applied_at: string | null;
  undone_at: string | null;
  undo: string | null;
}

function fromRow(r: ProposalRow): Proposal {
  return Proposal.parse({
    id: r.id,
    taskId: r.task_id,
    repo: r.repo,
    base: r.base,
    diff: r.diff,
    hash: r.hash,
    summary: r.summary,
    files: JSON.parse(r.files),
    costMicros: r.cost_micros,
    state: r.state,
    createdAt: r.created_at,
    appliedAt: r.applied_at,
    undoneAt: r.undone_at,
  });
}

// Lower-case letters and digits without the look-alikes (0/o, 1/l/i), so an id read aloud or typed is unambiguous.
const ID_ALPHABET = '23456789abcdefghjkmnpqrstuvwxyz';

/** A short random proposal id (8 characters, ~39 bits): short enough to type after `kairos apply`. */
export function randomProposalId(): string {
  const bytes = randomBytes(8);
  let id = '';
  for (const b of bytes) id += ID_ALPHABET[b % ID_ALPHABET.length];
  return id;
}

/**
 * Proposals and their state: proposed → applying → applied → undoing → undone (→ applying again),
 * or proposed → discarded. Each move is one conditional UPDATE, so of two racing movers (threads,
 * processes) exactly one sees its row change.
 */
export class ProposalStore {
  constructor(private readonly db: Db) {}

  /** Stores a new proposal under a fresh random id, retrying on the (rare) id collision. */
  insert(p: NewProposal, makeId: () => string = randomProposalId): Proposal {
    const ins = this.db.prepare(
      `INSERT INTO proposals (id, task_id, repo, base, diff, hash, summary, files, cost_micros, state, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'proposed', ?)`,
    );
    for (let attempt = 0; attempt < 8; attempt++) {
      const id = makeId();
      try {
        ins.run(id, p.taskId, p.repo, p.base, p.diff, p.hash, p.summary, JSON.stringify(p.files), p.costMicros, p.createdAt);
        return this.get(id)!;
      } catch (err) {
        if (errnoCode(err) === 'SQLITE_CONSTRAINT_PRIMARYKEY') continue;
        throw err;
      }
    }
    throw new ProposalStoreError('could not find a free proposal id after 8 tries; the id generator is not random');
  }

  get(id: string): Proposal | null {
    const row = this.db.prepare<[string], ProposalRow>('SELECT * FROM proposals WHERE id = ?').get(id);
    return row ? fromRow(row) : null;
  }

  forTask(taskId: string | number): Proposal[] {
    const rows = this.db.prepare<[string], ProposalRow>('SELECT * FROM proposals WHERE task_id = ? ORDER BY created_at, rowid').all(String(taskId));
    return rows.map(fromRow);
  }

  inStates(states: readonly ProposalState[]): Proposal[] {
    const rows = this.db
      .prepare<ProposalState[], ProposalRow>(`SELECT * FROM proposals WHERE state IN (${states.map(() => '?').join(', ')}) ORDER BY rowid`)
      .all(...states);
    return rows.map(fromRow);
  }

  /** Ids starting with `prefix` (lower-case letters and digits only), at most `limit`; an index range, not a scan. */
  idsWithPrefix(prefix: string, limit = 10): string[] {
    if (!/^[a-z0-9]+$/.test(prefix)) return [];
    const rows = this.db.prepare<[string, string, number], { id: string }>("SELECT id FROM proposals WHERE id >= ? AND id < ? || '~' ORDER BY id LIMIT ?").all(prefix, prefix, limit);
    return rows.map((r) => r.id).filter((id) => id.startsWith(prefix));
  }

  /** Moves the row from one of `from` to `to`; false when it was not in one of them (someone else moved it). */
  move(
    id: string,
    from: readonly ProposalState[],
    to: ProposalState,
    set: { appliedAt?: string | null; undoneAt?: string | null; clearUndo?: boolean } = {},
  ): boolean {
    const cols = ['state = ?'];
    const vals: unknown[] = [to];
    if (set.clearUndo) cols.push('undo = NULL');
    if (set.appliedAt !== undefined) {
      cols.push('applied_at = ?');
      vals.push(set.appliedAt);
    }
    if (set.undoneAt !== undefined) {
      cols.push('undone_at = ?');
      vals.push(set.undoneAt);
    }
    const res = this.db
      .prepare(`UPDATE proposals SET ${cols.join(', ')} WHERE id = ? AND state IN (${from.map(() => '?').join(', ')})`)
      .run(...vals, id, ...from);
    return res.changes === 1;
  }

  /** Records the undo point; only while the caller holds the row in `applying`. */
  setUndo(id: string, undo: UndoPoint): void {
    const res = this.db.prepare("UPDATE proposals SET undo = ? WHERE id = ? AND state = 'applying'").run(JSON.stringify(undo), id);
    if (res.changes !== 1) throw new ProposalStoreError(`proposal ${id}: an undo point can only be recorded while it is being applied`);
  }

  undo(id: string): UndoPoint | null {
    const row = this.db.prepare<[string], { undo: string | null }>('SELECT undo FROM proposals WHERE id = ?').get(id);
    return row?.undo ? UndoPoint.parse(JSON.parse(row.undo)) : null;
  }

  /** Proposed → discarded (the user said no, or the task expired). */
  discard(id: string): boolean {
    return this.move(id, ['proposed'], 'discarded');
  }
}

export function proposalListing(p: Proposal): ProposalListing {
  return { id: p.id, hash: p.hash, summary: p.summary, files: p.files, state: p.state };
}
