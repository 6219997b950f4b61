import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../store/db.js';
import { ApprovalStore, HumanChannel, type Approval, type TokenAction } from '../store/approval-store.js';
import { ProposalStore, type Proposal } from '../store/proposal-store.js';
import { ApprovalAudit } from './approval-audit.js';
import { ApprovalError } from './approval-error.js';
import { resolveApproval } from './approval-ids.js';
import { describeApproval, notPendingError } from './approval-text.js';
import { followApproval } from './task-follow.js';
import { recoverInterruptedApprovals } from './approval-recovery.js';
import type { Decider, DecisionKind, DecisionReport } from './decision-report.js';

export type { Approval, HumanChannel, TokenAction } from '../store/approval-store.js';
export { ApprovalError } from './approval-error.js';
export { isPaused, pausedSince, pauseStatus, setPaused } from '../store/pause-switch.js';
export { approvalJson, proposalActions } from './proposal-actions.js';
export type { DecisionReport } from './decision-report.js';
export type * from './approval-types.js';
import type { ApprovalDetails, ApprovalQueueDeps, ApprovalTokens, ApproveOptions, ApproveResult, DenyOptions, DenyResult, EnqueueCommandInput, EnqueueProposalInput, QueuedProposal } from './approval-types.js';
import { messageOf } from '../core/errors.js';

/**
 * The approval queue (policy layer 7's "a human must decide", made durable). Fail closed:
 * - an approval that has passed its expiry is denied, whether or not expireDue has run yet: the move
 *   out of `pending` checks expires_at in the same UPDATE;
 * - an approval is decided once: pending → applying is one conditional UPDATE, so of two approves
 *   (two processes, two channels) exactly one goes on to apply;
 * - approving applies exactly the stored diff under its stored hash (the one shown), and a failed
 *   apply is recorded as 'failed', never as approved.
 * Every decision moves the tasks it decides for (task-follow.ts) in the same transaction, writes
 * audit rows, and is reported to `onDecided` once committed.
 * Ids: every method takes an approval id, its proposal's id, or an unambiguous prefix (approval-ids.ts).
 */

export const DEFAULT_APPROVAL_TTL_MS = 24 * 60 * 60 * 1000;

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function iso(d: Date): string {
  return d.toISOString();
}

export class ApprovalQueue {
  readonly store: ApprovalStore;
  private readonly clock: () => Date;
  /** Every decision on an approval, every apply and undo, into the audit (src/pipeline/approval-audit.ts). */
  readonly audit: ApprovalAudit;

  constructor(
    readonly db: Db,
    private readonly deps: ApprovalQueueDeps,
  ) {
    this.store = new ApprovalStore(db);
    this.clock = deps.now ?? (() => new Date());
    this.audit = new ApprovalAudit(db, this.clock);
  }

  /**
   * Queues a stored proposal for a human; the proposal must still be 'proposed'. Its approval takes
   * the proposal's id. An identical proposal already waiting absorbs it (see QueuedProposal).
   */
  enqueueProposal(input: EnqueueProposalInput, now: Date = this.clock()): QueuedProposal {
    const p = input.proposal;
    const proposals = new ProposalStore(this.db);
    const current = proposals.get(p.id);
    if (!current) throw new ApprovalError('not_found', `proposal ${p.id} is not in the store; store it with makeProposal before queueing it`);
    if (current.state !== 'proposed') throw new ApprovalError('bad_request', `proposal ${p.id} is ${current.state}, not proposed; only a fresh proposal can be queued for approval`);
    const taskId = input.taskId != null ? String(input.taskId) : current.taskId;
    const queued = this.db.transaction((): QueuedProposal => {
      const open = this.store.openForProposal(p.id);
      if (open.length > 0) throw new ApprovalError('duplicate', `proposal ${p.id} already waits for approval ${open[0]!.id}; decide that one`);
      const same = this.store.pendingWithHash(current.repo, current.hash, iso(now));
      if (same) {
        this.store.linkTask(same.id, taskId);
        proposals.discard(current.id);
        this.audit.decision(same, 'collapse', 'daemon', { approval: { decision: 'deny', reason: `proposal ${current.id} (task ${taskId}) is the same diff as the one waiting; no second approval` } }, now);
        return { approval: same, tokens: null, collapsed: true };
      }
      const approval = this.store.insert(
        {
          kind: 'proposal',
          proposalId: current.id,
          hash: current.hash,
          summary: current.summary,
          command: null,
          files: current.files,
          trigger: input.trigger ?? null,
          repo: current.repo,
          taskId,
          costMicros: input.costMicros ?? current.costMicros,
          createdAt: iso(now),
          expiresAt: iso(new Date(now.getTime() + this.ttl(input.ttlMs))),
        },
        this.deps.makeId,
        current.id,
      );
      return { approval, tokens: this.mint(approval.id, now), collapsed: false };
    }).immediate();
    if (queued.collapsed) {
      this.report('collapse', queued.approval, 'daemon', { at: now, reason: `task ${taskId} proposed the same diff (proposal ${current.id}, discarded)`, taskIds: [] });
    } else this.queued(queued.approval);
    return queued;
  }

  /** Queues a command that needs a human (apply runs it); same rules as a proposal. */
  enqueueCommand(input: EnqueueCommandInput, now: Date = this.clock()): { approval: Approval; tokens: ApprovalTokens } {
    const queued = this.db.transaction(() => {
      const approval = this.store.insert(
        {
          kind: 'command',
          proposalId: null,
          hash: null,
          summary: input.summary,
          command: input.command,
          files: [],
          trigger: input.trigger ?? null,
          repo: input.repo,
          taskId: input.taskId != null ? String(input.taskId) : null,
          costMicros: input.costMicros ?? 0,
          createdAt: iso(now),
          expiresAt: iso(new Date(now.getTime() + this.ttl(input.ttlMs))),
        },
        this.deps.makeId,
      );
      return { approval, tokens: this.mint(approval.id, now) };
    }).immediate();
    this.queued(queued.approval);
    return queued;
  }

  private queued(a: Approval): void {
    try {
      this.deps.onQueued?.(a);
    } catch {
      // The approval is stored; a listener's failure must not undo that (expiry is checked on every decision anyway).
    }
  }

  /** A fresh set of action tokens for a pending approval (to re-notify after a restart: old ones stay valid). */
  issueTokens(id: string, now: Date = this.clock()): ApprovalTokens {
    return this.db.transaction(() => {
      const a = this.require(id);
      if (a.state !== 'pending' || a.expiresAt <= iso(now)) throw new ApprovalError('already_decided', `approval ${a.id} ${describeApproval(a, iso(now))}; tokens are only issued for a pending approval`);
      return this.mint(a.id, now);
    }).immediate();
  }

  pending(now: Date = this.clock()): Approval[] {
    return this.store.pending(iso(now));
  }

  /** The approval an id (approval or proposal, or an unambiguous prefix) names, or null. */
  get(id: string): Approval | null {
    try {
      return resolveApproval(this.db, id);
    } catch (e) {
      if (e instanceof ApprovalError) return null;
      throw e;
    }
  }

  /** The approval and the exact diff shown for it; with a token, that token must be this approval's 'show' token. */
  show(id: string, opts: { token?: string | undefined } = {}, now: Date = this.clock()): ApprovalDetails {
    return this.db.transaction(() => {
      const a = this.require(id);
      if (opts.token !== undefined) this.spendToken(opts.token, a, 'show', now);
      const diff = a.proposalId ? (new ProposalStore(this.db).get(a.proposalId)?.diff ?? null) : null;
      return { approval: a, diff };
    }).immediate();
  }

  async approve(ref: string, opts: ApproveOptions, now: Date = this.clock()): Promise<ApproveResult> {
    const channel = this.channel(opts.channel);
    const before = this.require(ref);
    const id = before.id;
    if (opts.hash !== undefined) {
      const given = opts.hash.trim().toLowerCase();
      if (before.hash === null || !sameHex(given, before.hash)) {
        this.audit.decision(before, 'approve', channel, { validate: { decision: 'deny', reason: `the hash given (${given.slice(0, 16) || 'empty'}…) is not the hash of the diff waiting for approval` } }, now);
        throw new ApprovalError(
          'hash_mismatch',
          `approval ${id}: the hash given (${given || 'empty'}) is not the hash of the diff waiting for approval (${before.hash ?? 'none: it is a command'}); review it again with \`kairos show ${id}\``,
        );
      }
    }
    const nowIso = iso(now);
    // Spending the token and claiming the row commit together: a refused claim leaves the token unspent.
    let claimed: boolean;
    try {
      claimed = this.db
        .transaction(() => {
          if (opts.token !== undefined) this.spendToken(opts.token, before, 'approve', now);
          const won = this.store.move(id, ['pending'], 'applying', { decidedAt: nowIso, decidedBy: channel, reason: null }, nowIso);
          if (won) this.audit.decision(before, 'approve', channel, { validate: opts.hash !== undefined ? { decision: 'allow', reason: 'the hash given is the diff shown' } : { decision: 'allow' }, approval: { decision: 'allow', reason: `approved via ${channel} before its expiry (${before.expiresAt})` } }, now);
          return won;
        })
        .immediate();
    } catch (e) {
      this.auditRefusedToken(e, before, 'approve', channel, now);
      throw e;
    }
    if (!claimed) {
      await this.expireIfDue(id, now);
      const refused = notPendingError(this.require(id), iso(now), 'approve');
      this.audit.decision(before, 'approve', channel, { approval: { decision: 'deny', reason: refused.message } }, now);
      throw refused;
    }
    const approval = this.require(id);
    let files: string[];
    try {
      files = (await this.deps.apply(approval)).files;
    } catch (err) {
      const why = messageOf(err);
      const at = this.clock();
      const followed = this.db.transaction(() => {
        this.store.move(id, ['applying'], 'failed', { reason: why });
        this.audit.apply(approval, channel, { validate: { decision: 'deny', reason: `the apply failed: ${why}` }, approval: { decision: 'allow', reason: `approval ${id} via ${channel}` } });
        return followApproval(this.db, id, iso(at), `approved via ${channel}, but applying it failed: ${why}`);
      }).immediate();
      this.report('fail', this.require(id), channel, { at, reason: why, taskIds: followed.map((t) => t.taskId) });
      throw new ApprovalError('apply_failed', `approval ${id} was approved via ${channel}, but applying it failed, so nothing is recorded as applied: ${why}`);
    }
    const at = this.clock();
    const followed = this.db.transaction(() => {
      this.store.move(id, ['applying'], 'approved', { appliedFiles: files });
      this.audit.apply(approval, channel, { validate: { decision: 'allow', reason: `applied exactly the diff under hash ${approval.hash?.slice(0, 12) ?? '(command)'}: ${files.length} file(s)` }, approval: { decision: 'allow', reason: `approval ${id} via ${channel}` } });
      return followApproval(this.db, id, iso(at), `approved via ${channel}: ${files.length} file(s) applied; undo: kairos undo ${id}`);
    }).immediate();
    const done = this.require(id);
    this.report('approve', done, channel, { at, files, taskIds: followed.map((t) => t.taskId) });
    return { approval: done, files };
  }

  async deny(ref: string, opts: DenyOptions, now: Date = this.clock()): Promise<DenyResult> {
    const channel = this.channel(opts.channel);
    const before = this.require(ref);
    const id = before.id;
    const nowIso = iso(now);
    let claimed: number[] | null;
    try {
      claimed = this.db
        .transaction(() => {
          if (opts.token !== undefined) this.spendToken(opts.token, before, 'deny', now);
          const won = this.store.move(id, ['pending'], 'denied', { decidedAt: nowIso, decidedBy: channel, reason: opts.reason ?? null }, nowIso);
          if (!won) return null;
          this.audit.decision(before, 'deny', channel, { approval: { decision: 'deny', reason: `denied via ${channel}${opts.reason ? `: ${opts.reason}` : ''}` } }, now);
          return followApproval(this.db, id, nowIso, `denied via ${channel}${opts.reason ? `: ${opts.reason}` : ''}`).map((t) => t.taskId);
        })
        .immediate();
    } catch (e) {
      this.auditRefusedToken(e, before, 'deny', channel, now);
      throw e;
    }
    if (!claimed) {
      // Denying something that has just expired is what the human wanted anyway: report it, do not fail.
      const expired = await this.expireIfDue(id, now);
      if (expired) return expired;
      throw notPendingError(this.require(id), iso(now), 'deny');
    }
    const approval = this.require(id);
    const discardError = await this.runDiscard(approval);
    this.report('deny', approval, channel, { at: now, reason: opts.reason ?? null, taskIds: claimed });
    return discardError ? { approval, discardError } : { approval };
  }

  /** Moves every pending approval past its expiry to 'expired' (decided by 'expiry') and discards what it would have applied. */
  async expireDue(now: Date = this.clock()): Promise<DenyResult[]> {
    const out: DenyResult[] = [];
    for (const a of this.store.due(iso(now))) {
      const r = await this.expireIfDue(a.id, now);
      if (r) out.push(r);
    }
    return out;
  }

  /** Start-up: settles approvals a crash left in 'applying' (see approval-recovery.ts). Run only while no apply can be in flight. */
  recoverInterrupted(): Approval[] {
    return recoverInterruptedApprovals(this, this.clock);
  }

  /**
   * Tells the listener about a committed decision. Public so `kairos apply` / `kairos undo`
   * (proposal-decisions.ts) report through the same listener as the queue's own decisions.
   */
  report(kind: DecisionKind, a: Approval | null, by: Decider, o: { at?: Date; files?: string[]; reason?: string | null; taskIds?: number[]; proposal?: Proposal | null } = {}): void {
    const listener = this.deps.onDecided;
    if (!listener) return;
    const p = o.proposal ?? null;
    const r: DecisionReport = {
      kind,
      id: a?.id ?? p?.id ?? '?',
      approval: a,
      proposalId: a?.proposalId ?? p?.id ?? null,
      repo: a?.repo ?? p?.repo ?? '',
      trigger: a?.trigger ?? null,
      by,
      files: o.files ?? [],
      reason: o.reason ?? null,
      hash: a?.hash ?? p?.hash ?? null,
      taskIds: o.taskIds ?? [],
      at: o.at ?? this.clock(),
    };
    try {
      listener(r);
    } catch {
      // The decision is recorded; a listener's failure (a full disk for the daily log) must not undo that.
    }
  }

  private ttl(ttlMs: number | undefined): number {
    const ttl = ttlMs ?? DEFAULT_APPROVAL_TTL_MS;
    if (!Number.isFinite(ttl) || ttl <= 0) throw new ApprovalError('bad_request', `an approval's time to live must be a positive number of ms, not ${ttlMs}`);
    return ttl;
  }

  private mint(id: string, now: Date): ApprovalTokens {
    const tokens: ApprovalTokens = { approve: newToken(), deny: newToken(), show: newToken() };
    for (const action of ['approve', 'deny', 'show'] as const) this.store.addToken(tokenHash(tokens[action]), id, action, iso(now));
    return tokens;
  }

  private channel(c: unknown): HumanChannel {
    const parsed = HumanChannel.safeParse(c);
    if (!parsed.success) throw new ApprovalError('bad_request', `channel must be one of ${HumanChannel.options.join(', ')}, not ${JSON.stringify(c)}`);
    return parsed.data;
  }

  /** The approval an id (its own, its proposal's, or an unambiguous prefix of either) names; throws not_found / ambiguous. */
  private require(ref: string): Approval {
    return resolveApproval(this.db, ref);
  }

  /** Spends the token or throws saying exactly why it is refused (inside the caller's transaction). */
  private spendToken(token: string, a: Approval, action: TokenAction, now: Date): void {
    const h = tokenHash(token);
    if (this.store.useToken(h, a.id, action, iso(now))) return;
    const row = this.store.token(h);
    let why: string;
    if (!row) why = 'it is not a token Kairos issued';
    else if (row.approval_id !== a.id) why = 'it was issued for another approval';
    else if (row.action !== action) why = `it is the '${row.action}' token, not the '${action}' one`;
    else if (row.used_at) why = `it was already used at ${row.used_at}`;
    else why = `it expired with the approval at ${a.expiresAt}`;
    throw new ApprovalError('bad_token', `approval ${a.id}: the ${action} token is refused: ${why}; use \`kairos ${action} ${a.id}\` instead`);
  }

  /** A refused action token (a forged or replayed notification button) goes on the record; written after the claim rolled back. */
  private auditRefusedToken(e: unknown, a: Approval, action: 'approve' | 'deny', channel: HumanChannel, now: Date): void {
    if (e instanceof ApprovalError && e.code === 'bad_token') this.audit.decision(a, action, channel, { validate: { decision: 'deny', reason: e.message } }, now);
  }

  /** If the approval is pending but past its expiry, moves it to 'expired' and discards; returns that, else null. */
  private async expireIfDue(id: string, now: Date): Promise<DenyResult | null> {
    const a = this.require(id);
    if (a.state !== 'pending' || a.expiresAt > iso(now)) return null;
    const moved = this.db
      .transaction(() => {
        const won = this.store.move(a.id, ['pending'], 'expired', { decidedAt: a.expiresAt, decidedBy: 'expiry', reason: 'nobody decided before it expired' });
        if (!won) return null;
        this.audit.decision(a, 'expire', 'expiry', { approval: { decision: 'deny', reason: `nobody decided before it expired at ${a.expiresAt}` } }, now);
        return followApproval(this.db, a.id, iso(now), `expired at ${a.expiresAt}: nobody decided in time`).map((t) => t.taskId);
      })
      .immediate();
    if (!moved) return null;
    const expired = this.require(a.id);
    const discardError = await this.runDiscard(expired);
    this.report('expire', expired, 'expiry', { at: now, reason: `nobody decided before ${a.expiresAt}`, taskIds: moved });
    return discardError ? { approval: expired, discardError } : { approval: expired };
  }

  private async runDiscard(a: Approval): Promise<string | undefined> {
    try {
      await this.deps.discard(a);
      return undefined;
    } catch (err) {
      return messageOf(err);
    }
  }
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
