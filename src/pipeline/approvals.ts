import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../store/db.js';
import { ApprovalStore, HumanChannel, type Approval, type TokenAction } from '../store/approval-store.js';
import { ProposalStore, type Proposal } from '../store/proposal-store.js';
import { applyProposal } from '../agent/apply.js';
import { removeTaskWorktree } from '../agent/worktree.js';
import { ApprovalAudit } from './approval-audit.js';
import { redactDeep } from '../policy/filter.js';

export type { Approval, ApprovalChannel, ApprovalState, HumanChannel, TokenAction } from '../store/approval-store.js';

/**
 * The approval queue (policy layer 7's "a human must decide", made durable). Fail closed:
 * - an approval that has passed its expiry is denied, whether or not expireDue has run yet: the move
 *   out of `pending` checks expires_at in the same UPDATE;
 * - an approval is decided once: pending → applying is one conditional UPDATE, so of two approves
 *   (two processes, two channels) exactly one goes on to apply;
 * - approving applies exactly the stored diff under its stored hash (the one shown), and a failed
 *   apply is recorded as 'failed', never as approved.
 */

export const DEFAULT_APPROVAL_TTL_MS = 24 * 60 * 60 * 1000;

export type ApprovalErrorCode =
  | 'not_found'
  | 'expired'
  | 'already_decided'
  | 'busy'
  | 'hash_mismatch'
  | 'bad_token'
  | 'bad_request'
  | 'apply_failed'
  | 'duplicate';

export class ApprovalError extends Error {
  override name = 'ApprovalError';
  constructor(
    readonly code: ApprovalErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ApprovalQueueDeps {
  /** Applies the approved change to the user's tree (for a proposal: exactly the diff under approval.hash). */
  apply: (approval: Approval) => Promise<{ files: string[] }>;
  /** Throws away what a denied or expired approval would have applied (the proposal, its worktree). */
  discard: (approval: Approval) => Promise<void>;
  now?: () => Date;
  makeId?: () => string;
}

/** One-time secrets for a notification's or the tray's buttons; returned once, only their hashes are kept. */
export interface ApprovalTokens {
  approve: string;
  deny: string;
  show: string;
}

export interface EnqueueProposalInput {
  proposal: Proposal;
  trigger?: string | null;
  taskId?: string | number | null;
  costMicros?: number;
  ttlMs?: number;
}

export interface EnqueueCommandInput {
  command: string;
  summary: string;
  repo: string;
  trigger?: string | null;
  taskId?: string | number | null;
  costMicros?: number;
  ttlMs?: number;
}

export interface DecideOptions {
  channel: HumanChannel;
  /** The action token from a notification or tray button; when given it must be this approval's, for this action, unused. */
  token?: string | undefined;
}

export interface ApproveOptions extends DecideOptions {
  /** The hash the human saw (`kairos approve --hash`); when given it must equal the stored hash. */
  hash?: string | undefined;
}

export interface DenyOptions extends DecideOptions {
  reason?: string | undefined;
}

export interface ApproveResult {
  approval: Approval;
  files: string[];
}

export interface DenyResult {
  approval: Approval;
  /** Set when the denial was recorded but throwing the proposal away failed (the caller logs it). */
  discardError?: string;
}

export interface ApprovalDetails {
  approval: Approval;
  /** The exact diff bytes whose sha256 is approval.hash (proposal approvals). */
  diff: Buffer | null;
}

const PAUSED_KEY = 'paused';
const PAUSED_BY_KEY = 'paused_by';

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

  /** Queues a stored proposal for a human; the proposal must still be 'proposed'. */
  enqueueProposal(input: EnqueueProposalInput, now: Date = this.clock()): { approval: Approval; tokens: ApprovalTokens } {
    const p = input.proposal;
    const current = new ProposalStore(this.db).get(p.id);
    if (!current) throw new ApprovalError('not_found', `proposal ${p.id} is not in the store; store it with makeProposal before queueing it`);
    if (current.state !== 'proposed') throw new ApprovalError('bad_request', `proposal ${p.id} is ${current.state}, not proposed; only a fresh proposal can be queued for approval`);
    return this.db.transaction(() => {
      const open = this.store.openForProposal(p.id);
      if (open.length > 0) throw new ApprovalError('duplicate', `proposal ${p.id} already waits for approval ${open[0]!.id}; decide that one`);
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
          taskId: input.taskId != null ? String(input.taskId) : current.taskId,
          costMicros: input.costMicros ?? current.costMicros,
          createdAt: iso(now),
          expiresAt: iso(new Date(now.getTime() + this.ttl(input.ttlMs))),
        },
        this.deps.makeId,
      );
      return { approval, tokens: this.mint(approval.id, now) };
    })();
  }

  /** Queues a command that needs a human (apply runs it); same rules as a proposal. */
  enqueueCommand(input: EnqueueCommandInput, now: Date = this.clock()): { approval: Approval; tokens: ApprovalTokens } {
    return this.db.transaction(() => {
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
    })();
  }

  /** A fresh set of action tokens for a pending approval (to re-notify after a restart: old ones stay valid). */
  issueTokens(id: string, now: Date = this.clock()): ApprovalTokens {
    return this.db.transaction(() => {
      const a = this.require(id);
      if (a.state !== 'pending' || a.expiresAt <= iso(now)) throw new ApprovalError('already_decided', `approval ${id} ${this.describe(a, now)}; tokens are only issued for a pending approval`);
      return this.mint(id, now);
    })();
  }

  pending(now: Date = this.clock()): Approval[] {
    return this.store.pending(iso(now));
  }

  get(id: string): Approval | null {
    return this.store.get(id);
  }

  /** The approval and the exact diff shown for it; with a token, that token must be this approval's 'show' token. */
  show(id: string, opts: { token?: string | undefined } = {}, now: Date = this.clock()): ApprovalDetails {
    return this.db.transaction(() => {
      const a = this.require(id);
      if (opts.token !== undefined) this.spendToken(opts.token, a, 'show', now);
      const diff = a.proposalId ? (new ProposalStore(this.db).get(a.proposalId)?.diff ?? null) : null;
      return { approval: a, diff };
    })();
  }

  async approve(id: string, opts: ApproveOptions, now: Date = this.clock()): Promise<ApproveResult> {
    const channel = this.channel(opts.channel);
    const before = this.require(id);
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
      const refused = this.notPending(this.require(id), now, 'approve');
      this.audit.decision(before, 'approve', channel, { approval: { decision: 'deny', reason: refused.message } }, now);
      throw refused;
    }
    const approval = this.require(id);
    let files: string[];
    try {
      files = (await this.deps.apply(approval)).files;
    } catch (err) {
      const why = (err as Error).message;
      this.db.transaction(() => {
        this.store.move(id, ['applying'], 'failed', { reason: why });
        this.audit.apply(approval, channel, { validate: { decision: 'deny', reason: `the apply failed: ${why}` }, approval: { decision: 'allow', reason: `approval ${id} via ${channel}` } });
      }).immediate();
      throw new ApprovalError('apply_failed', `approval ${id} was approved via ${channel}, but applying it failed, so nothing is recorded as applied: ${why}`);
    }
    this.db.transaction(() => {
      this.store.move(id, ['applying'], 'approved', { appliedFiles: files });
      this.audit.apply(approval, channel, { validate: { decision: 'allow', reason: `applied exactly the diff under hash ${approval.hash?.slice(0, 12) ?? '(command)'}: ${files.length} file(s)` }, approval: { decision: 'allow', reason: `approval ${id} via ${channel}` } });
    }).immediate();
    return { approval: this.require(id), files };
  }

  async deny(id: string, opts: DenyOptions, now: Date = this.clock()): Promise<DenyResult> {
    const channel = this.channel(opts.channel);
    const before = this.require(id);
    const nowIso = iso(now);
    let claimed: boolean;
    try {
      claimed = this.db
        .transaction(() => {
          if (opts.token !== undefined) this.spendToken(opts.token, before, 'deny', now);
          const won = this.store.move(id, ['pending'], 'denied', { decidedAt: nowIso, decidedBy: channel, reason: opts.reason ?? null }, nowIso);
          if (won) this.audit.decision(before, 'deny', channel, { approval: { decision: 'deny', reason: `denied via ${channel}${opts.reason ? `: ${opts.reason}` : ''}` } }, now);
          return won;
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
      throw this.notPending(this.require(id), now, 'deny');
    }
    const approval = this.require(id);
    const discardError = await this.runDiscard(approval);
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

  /**
   * Start-up: an approval left in 'applying' by a crash is settled from its proposal, which
   * recoverInterruptedApplies (run first) has either finished or rolled back: applied → approved;
   * rolled back → pending again (the human's approval never took effect; the clock still runs).
   * A command cannot be checked, so it is recorded as failed. Run only while no apply can be in flight.
   */
  recoverInterrupted(): Approval[] {
    const proposals = new ProposalStore(this.db);
    const out: Approval[] = [];
    for (const a of this.store.inState('applying')) {
      const p = a.proposalId ? proposals.get(a.proposalId) : null;
      const approved = `approval ${a.id} via ${a.decidedBy ?? '?'}`;
      this.db.transaction(() => {
        if (p?.state === 'applied') {
          this.store.move(a.id, ['applying'], 'approved', { appliedFiles: p.files });
          this.audit.apply(a, 'recovery', { validate: { decision: 'allow', reason: 'an apply a daemon stop interrupted was finished on start' }, approval: { decision: 'allow', reason: approved } });
        } else if (p?.state === 'proposed') {
          this.store.move(a.id, ['applying'], 'pending', { decidedAt: null, decidedBy: null });
          this.audit.apply(a, 'recovery', { validate: { decision: 'deny', reason: 'an apply a daemon stop interrupted was rolled back on start; the approval waits again' }, approval: { decision: 'allow', reason: approved } });
        } else {
          const reason = `interrupted by a daemon stop while being applied${p ? ` (proposal is ${p.state})` : ''}; check the tree and queue it again`;
          this.store.move(a.id, ['applying'], 'failed', { reason });
          this.audit.apply(a, 'recovery', { validate: { decision: 'deny', reason }, approval: { decision: 'allow', reason: approved } });
        }
      }).immediate();
      out.push(this.require(a.id));
    }
    return out;
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

  private require(id: string): Approval {
    const a = this.store.get(id);
    if (!a) throw new ApprovalError('not_found', `no approval '${id}'; \`kairos pending\` lists the ones waiting`);
    return a;
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
        const won = this.store.move(id, ['pending'], 'expired', { decidedAt: a.expiresAt, decidedBy: 'expiry', reason: 'nobody decided before it expired' });
        if (won) this.audit.decision(a, 'expire', 'expiry', { approval: { decision: 'deny', reason: `nobody decided before it expired at ${a.expiresAt}` } }, now);
        return won;
      })
      .immediate();
    if (!moved) return null;
    const expired = this.require(id);
    const discardError = await this.runDiscard(expired);
    return discardError ? { approval: expired, discardError } : { approval: expired };
  }

  private async runDiscard(a: Approval): Promise<string | undefined> {
    try {
      await this.deps.discard(a);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** What happened to the approval, as the rest of a sentence starting "approval ID ". */
  private describe(a: Approval, now: Date): string {
    const via = a.decidedBy ? ` via ${a.decidedBy}` : '';
    switch (a.state) {
      case 'pending':
        return a.expiresAt <= iso(now) ? `expired at ${a.expiresAt}` : `is pending until ${a.expiresAt}`;
      case 'applying':
        return `is being applied right now (approved at ${a.decidedAt}${via})`;
      case 'approved':
        return `was already approved at ${a.decidedAt}${via}`;
      case 'denied':
        return `was denied at ${a.decidedAt}${via}${a.reason ? ` (${a.reason})` : ''}`;
      case 'expired':
        return `expired at ${a.expiresAt}`;
      case 'failed':
        return `was approved at ${a.decidedAt}${via}, but applying it failed: ${a.reason ?? 'no reason recorded'}`;
    }
  }

  private notPending(a: Approval, now: Date, verb: 'approve' | 'deny'): ApprovalError {
    const done = verb === 'approve' ? 'approved' : 'denied';
    const expired = a.state === 'expired' || (a.state === 'pending' && a.expiresAt <= iso(now));
    if (expired) {
      return new ApprovalError('expired', `approval ${a.id} expired at ${a.expiresAt} and can no longer be ${done}; an expired approval counts as denied — let the task propose again`);
    }
    if (a.state === 'applying') return new ApprovalError('busy', `approval ${a.id} ${this.describe(a, now)}; it cannot be ${done} again`);
    return new ApprovalError('already_decided', `approval ${a.id} ${this.describe(a, now)}; an approval is decided once, so it cannot be ${done} now`);
  }
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The pause-all switch (persisted, so it survives restarts): the daemon starts no ambient work while set. */
export function isPaused(db: Db): boolean {
  return new ApprovalStore(db).setting(PAUSED_KEY)?.value === 'true';
}

export function pausedSince(db: Db): string | null {
  const s = new ApprovalStore(db).setting(PAUSED_KEY);
  return s?.value === 'true' ? s.updatedAt : null;
}

/** The pause switch as `status` shows it: whether, since when and through which channel. */
export function pauseStatus(db: Db): { paused: boolean; since: string | null; by: string | null } {
  return { paused: isPaused(db), since: pausedSince(db), by: pausedBy(db) };
}

/** Who set the pause switch: the channel it came through (cli, tray, notification, mcp), for `status`. */
export function pausedBy(db: Db): string | null {
  return isPaused(db) ? (new ApprovalStore(db).setting(PAUSED_BY_KEY)?.value ?? null) : null;
}

export function setPaused(db: Db, paused: boolean, now: Date = new Date(), by?: HumanChannel): { paused: boolean; since: string | null } {
  const store = new ApprovalStore(db);
  db.transaction(() => {
    store.setSetting(PAUSED_KEY, paused ? 'true' : 'false', iso(now));
    if (paused) store.setSetting(PAUSED_BY_KEY, by ?? 'cli', iso(now));
  })();
  return { paused, since: paused ? iso(now) : null };
}

export interface ProposalActionsOptions {
  db: Db;
  /** $KAIROS_HOME, where task worktrees live. */
  home: string;
  /** Tags the paths about to be written (the daemon's watcher must not trigger on its own writes). */
  onBeforeWrite?: (repo: string, paths: string[]) => void | Promise<void>;
}

/**
 * The apply / discard a queue of proposal approvals needs: apply is applyProposal with the stored
 * hash (so the tree gets exactly the diff shown); discard marks the proposal discarded and removes
 * its task worktree if one is still there.
 */
export function proposalActions(o: ProposalActionsOptions): Pick<ApprovalQueueDeps, 'apply' | 'discard'> {
  return {
    apply: async (a) => {
      if (a.kind !== 'proposal' || !a.proposalId || !a.hash) throw new ApprovalError('bad_request', `approval ${a.id} is a ${a.kind}, not a proposal; this queue only applies proposals`);
      const r = await applyProposal({
        db: o.db,
        proposalId: a.proposalId,
        hash: a.hash,
        repo: a.repo,
        ...(o.onBeforeWrite ? { onBeforeWrite: (paths: string[]) => o.onBeforeWrite!(a.repo, paths) } : {}),
      });
      return { files: r.files };
    },
    discard: async (a) => {
      if (a.proposalId) new ProposalStore(o.db).discard(a.proposalId);
      // The agent loop normally removes the worktree once the diff is stored; this catches one left behind.
      if (a.taskId) await removeTaskWorktree({ repo: a.repo, taskId: a.taskId, home: o.home });
    },
  };
}

/** The JSON every channel (CLI --json, control socket, tray) shows for an approval, secrets redacted. */
export function approvalJson(a: Approval): Record<string, unknown> {
  return redactDeep({
    id: a.id,
    kind: a.kind,
    state: a.state,
    hash: a.hash,
    summary: a.summary,
    command: a.command,
    files: a.files,
    trigger: a.trigger,
    repo: a.repo,
    task_id: a.taskId,
    proposal_id: a.proposalId,
    cost_micros: a.costMicros,
    cost_usd: a.costMicros / 1_000_000,
    created_at: a.createdAt,
    expires_at: a.expiresAt,
    decided_at: a.decidedAt,
    decided_by: a.decidedBy,
    reason: a.reason,
    applied_files: a.appliedFiles,
  });
}

