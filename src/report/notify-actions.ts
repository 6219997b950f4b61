import { z } from 'zod';
import { isRecord } from '../core/record.js';
import { prepareNotification, type ShownNotification } from './notify.js';
import type { OpenResult } from './show-diff.js';

/**
 * What a proposal notification says and which control call each of its buttons makes. Pure: the
 * D-Bus wiring (dbus-notify.ts) and any other desktop channel use it.
 *
 * Where the one-time tokens live: in the notifier's memory only, keyed by the notification id the
 * server returned. The action keys sent to the notification server are the bare words
 * `approve` / `deny` / `show`: a server (and anything watching the session bus, `dbus-monitor`,
 * a notification history) sees the keys, so a token there could be recorded; in memory it is not.
 * A click comes back as ActionInvoked(notificationId, key) and the token is looked up here.
 */

export const NotifyAction = z.enum(['approve', 'deny', 'show']);
export type NotifyAction = z.infer<typeof NotifyAction>;

export const ACTION_LABELS: Record<NotifyAction, string> = { approve: 'Approve', deny: 'Deny', show: 'Show' };

export interface ActionTokens {
  approve: string;
  deny: string;
  show: string;
}

/** A pending approval as a notification needs it; tokens as ApprovalQueue.enqueueProposal / issueTokens return them. */
export interface ProposalNotice {
  approvalId: string;
  summary: string;
  repo?: string | null;
  files?: string[];
  costUsd?: number;
  expiresAt?: string;
  tokens: ActionTokens;
}

/** A control-socket request: the method and its params, as callDaemon takes them. */
export interface ControlRequestSpec {
  method: 'approvals.approve' | 'approvals.deny' | 'approvals.show';
  params: { id: string; channel: 'notification'; token: string };
}

export type ControlCall = (method: string, params: Record<string, unknown>) => Promise<unknown>;

const CHANNEL = 'notification' as const;

/** The control call a click on `action` makes for an approval, carrying that action's token. */
export function actionRequest(action: NotifyAction, approvalId: string, tokens: ActionTokens): ControlRequestSpec {
  return { method: `approvals.${action}`, params: { id: approvalId, channel: CHANNEL, token: tokens[action] } };
}

/** Title and body of a proposal notification (no tokens). `withCommands` adds the CLI to run, for servers without buttons. */
export function proposalNotification(n: ProposalNotice, opts: { withCommands: boolean; actions?: NotifyAction[] }): ShownNotification {
  const where = n.repo ? ` in ${baseName(n.repo)}` : '';
  const files = n.files?.length ? `${n.files.length} file${n.files.length === 1 ? '' : 's'}: ${n.files.slice(0, 3).join(', ')}${n.files.length > 3 ? ', …' : ''}` : '';
  const cost = n.costUsd !== undefined && n.costUsd > 0 ? `cost so far $${n.costUsd.toFixed(2)}` : '';
  const lines = [n.summary, [files, cost].filter(Boolean).join(' · ')];
  if (opts.withCommands) lines.push(`Run: kairos show ${n.approvalId} · kairos approve ${n.approvalId} · kairos deny ${n.approvalId}`);
  const shown = prepareNotification({
    // The id every command takes is in the title, where a truncated body cannot cut it.
    title: `Kairos proposes a change${where} (${n.approvalId})`,
    body: lines.filter(Boolean).join('\n'),
    urgency: 'normal',
    actions: (opts.actions ?? []).map((a) => ACTION_LABELS[a]),
  });
  // The command line must survive truncation of a long summary: it is the only way to act on a button-less server.
  if (opts.withCommands && !shown.body.includes(`kairos approve ${n.approvalId}`)) {
    shown.body = `${shown.body.split('\n')[0]!.slice(0, 60)}…\nRun: kairos approve ${n.approvalId} (or kairos show / deny ${n.approvalId})`;
  }
  return shown;
}

/** The flat [key, label, ...] list org.freedesktop.Notifications.Notify takes. */
export function dbusActionList(actions: NotifyAction[]): string[] {
  return actions.flatMap((a) => [a, ACTION_LABELS[a]]);
}

/** What a finished click reports, for the follow-up notification and the log. */
export interface ActionOutcome {
  notificationId: number;
  approvalId: string;
  action: NotifyAction;
  ok: boolean;
  /** The daemon's answer (ok) or its refusal (not ok); never the token. */
  result?: unknown;
  error?: { message: string; code: string };
  /** Show only: whether a program really opened the diff. */
  opened?: OpenResult;
}

/** Refusals that only mean someone decided first (elsewhere, or the clock): news, not an error. */
const DECIDED_ELSEWHERE = new Set(['already_decided', 'expired', 'busy']);

/** The follow-up notification after a click was answered; `urgent` when something went wrong. */
export function outcomeNotification(o: ActionOutcome): { title: string; body: string; urgent: boolean } {
  const id = o.approvalId;
  if (!o.ok) {
    const elsewhere = DECIDED_ELSEWHERE.has(o.error?.code ?? '');
    return { title: elsewhere ? `Kairos: ${id} was already decided` : `Kairos: ${o.action} of ${id} refused`, body: o.error?.message ?? 'the daemon refused it', urgent: !elsewhere };
  }
  if (o.action === 'approve') {
    const files = isRecord(o.result) ? o.result.files : undefined;
    const n = Array.isArray(files) ? files.length : 0;
    return { title: `Kairos applied ${id}`, body: `${n} file${n === 1 ? '' : 's'} changed in your tree.\nUndo: kairos undo ${id}`, urgent: false };
  }
  if (o.action === 'deny') return { title: `Kairos discarded ${id}`, body: 'Nothing changed in your tree.', urgent: false };
  if (o.opened && !o.opened.opened) {
    // The command first: the reason can be long, and a body is cut at BODY_MAX.
    return { title: `Kairos: diff of ${id}`, body: `Run: kairos show ${id} — then Approve or Deny here.\nNothing here could open it (${o.opened.why}).`, urgent: false };
  }
  const via = o.opened?.opened ? ` with ${o.opened.via}` : '';
  return { title: `Kairos: diff of ${id}`, body: `Opened the diff${via}. Approve or Deny here, or: kairos approve ${id}`, urgent: false };
}

interface Entry {
  approvalId: string;
  tokens: ActionTokens;
  expiresAtMs: number;
}

/**
 * The in-memory table notification id → (approval id, tokens). It keeps no "used" flag of its
 * own: whether a token is still good is the queue's decision alone, so a repeated click goes to
 * the daemon and comes back refused, instead of being answered from a second, possibly stale, record.
 * Entries go when the approval expires (by then the queue refuses the tokens anyway).
 */
export class NotificationTokens {
  private readonly entries = new Map<number, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  remember(notificationId: number, notice: Pick<ProposalNotice, 'approvalId' | 'tokens' | 'expiresAt'>): void {
    this.prune();
    const exp = notice.expiresAt ? Date.parse(notice.expiresAt) : Number.POSITIVE_INFINITY;
    this.entries.set(notificationId, { approvalId: notice.approvalId, tokens: { ...notice.tokens }, expiresAtMs: Number.isNaN(exp) ? Number.POSITIVE_INFINITY : exp });
  }

  /** The control call for a click, or null when the id is not one of ours (another app's notification) or the key is unknown. */
  requestFor(notificationId: number, key: string): (ControlRequestSpec & { approvalId: string; action: NotifyAction }) | null {
    this.prune();
    const e = this.entries.get(notificationId);
    const action = NotifyAction.safeParse(key);
    if (!e || !action.success) return null;
    return { ...actionRequest(action.data, e.approvalId, e.tokens), approvalId: e.approvalId, action: action.data };
  }

  /** Every notification id remembered (unexpired). */
  ids(): number[] {
    this.prune();
    return [...this.entries.keys()];
  }

  /** The notifications shown for an approval (usually one). */
  idsFor(approvalId: string): number[] {
    return [...this.entries].filter(([, e]) => e.approvalId === approvalId).map(([id]) => id);
  }

  approvalFor(notificationId: number): string | null {
    return this.entries.get(notificationId)?.approvalId ?? null;
  }

  forget(notificationId: number): void {
    this.entries.delete(notificationId);
  }

  get size(): number {
    return this.entries.size;
  }

  private prune(): void {
    const t = this.now();
    for (const [id, e] of this.entries) if (e.expiresAtMs <= t) this.entries.delete(id);
  }
}

function baseName(p: string): string {
  const parts = p.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? p;
}
