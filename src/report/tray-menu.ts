import path from 'node:path';
import { z } from 'zod';
import type { ControlCall } from './notify-actions.js';
import { stripTerminalEscapes, truncateText } from './terminal-text.js';
import { messageOf } from '../core/errors.js';
import { isRecord } from '../core/record.js';

/** The tray's pure part: what the icon and menu show for a state, and the control call a click makes. */
// ---------------------------------------------------------------------------------------------
// The model

export const PendingApproval = z.object({
  id: z.string(),
  kind: z.string().default('proposal'),
  summary: z.string().default(''),
  repo: z.string().nullable().optional(),
  expires_at: z.string().optional(),
  cost_usd: z.number().optional(),
});
export type PendingApproval = z.infer<typeof PendingApproval>;

export interface SpendToday {
  spentUsd: number;
  /** The daily cap, when the budget sets one. */
  capUsd: number | null;
}

export interface TrayState {
  /** False when the daemon does not answer; `error` says why. */
  online: boolean;
  error?: string;
  paused: boolean;
  pending: PendingApproval[];
  spendToday: SpendToday | null;
  /** A cap is nearly reached, or the daemon has paused model steps for money. */
  budgetLow: boolean;
}

export type TrayStatus = 'offline' | 'paused' | 'pending' | 'budget-low' | 'watching';

export type TrayAction =
  | { type: 'approve' | 'deny' | 'show'; id: string }
  | { type: 'pause' | 'resume' | 'open-log' | 'quit' };

export interface TrayItem {
  /** Stable across refreshes: the same key is the same menu entry. */
  key: string;
  title: string;
  tooltip: string;
  enabled: boolean;
  separator?: boolean;
  action?: TrayAction;
  items?: TrayItem[];
}

export interface TrayModel {
  status: TrayStatus;
  pendingCount: number;
  /** Shown beside the icon where the platform shows a title (macOS menu bar); short. */
  title: string;
  tooltip: string;
  items: TrayItem[];
}

export const MAX_MENU_PENDING = 8;
/** Below this share of a cap left, the icon says "budget low". */
export const BUDGET_LOW_SHARE = 0.2;

/** What the icon shows, most urgent first: the daemon is gone, paused, someone must decide, money is short, all well. */
export function trayStatus(s: TrayState): TrayStatus {
  if (!s.online) return 'offline';
  if (s.paused) return 'paused';
  if (s.pending.length > 0) return 'pending';
  if (s.budgetLow) return 'budget-low';
  return 'watching';
}

const STATUS_TEXT: Record<TrayStatus, string> = {
  offline: 'daemon not running',
  paused: 'paused',
  pending: 'waiting for you',
  'budget-low': 'budget low',
  watching: 'watching',
};

function usd(n: number): string {
  return `$${n.toFixed(2)}`;
}

function clean(s: string, max: number): string {
  return truncateText(stripTerminalEscapes(s).replace(/\s+/g, ' ').trim(), max);
}

function sep(key: string): TrayItem {
  return { key, title: '<SEPARATOR>', tooltip: '', enabled: true, separator: true };
}

function label(key: string, title: string): TrayItem {
  return { key, title, tooltip: '', enabled: false };
}

export function spendLine(s: SpendToday | null): string {
  if (!s) return 'Spend today: unknown';
  return s.capUsd !== null ? `Spend today: ${usd(s.spentUsd)} of ${usd(s.capUsd)}` : `Spend today: ${usd(s.spentUsd)}`;
}

export function trayMenu(s: TrayState, o: { maxPending?: number } = {}): TrayModel {
  const status = trayStatus(s);
  const max = o.maxPending ?? MAX_MENU_PENDING;
  const n = s.pending.length;
  const head = status === 'pending' ? `${n} pending` : STATUS_TEXT[status];
  const extras = [s.online && status !== 'pending' && n > 0 ? `${n} pending` : '', s.online && status !== 'budget-low' && s.budgetLow ? 'budget low' : ''].filter(Boolean);
  const statusLine = `Kairos: ${head}${extras.length ? ` · ${extras.join(' · ')}` : ''}`;
  const items: TrayItem[] = [label('status', s.online ? statusLine : `Kairos: ${STATUS_TEXT.offline}`), label('spend', spendLine(s.spendToday)), sep('sep-pending')];
  if (!s.online) {
    items.push(label('offline', clean(s.error ?? 'start it with `kairos start`', 70)));
  } else if (n === 0) {
    items.push(label('none', 'No approvals waiting'));
  } else {
    for (const p of s.pending.slice(0, max)) {
      const where = p.repo ? ` [${path.basename(p.repo)}]` : '';
      items.push({
        key: `pending:${p.id}`,
        title: clean(`${p.id}${where} · ${p.summary || p.kind}`, 60),
        tooltip: clean(p.summary, 200),
        enabled: true,
        items: [
          { key: `approve:${p.id}`, title: 'Approve', tooltip: p.kind === 'proposal' ? `apply exactly this diff; undo later with: kairos undo ${p.id}` : `run exactly this ${p.kind}`, enabled: true, action: { type: 'approve', id: p.id } },
          { key: `deny:${p.id}`, title: 'Deny', tooltip: 'discard it; nothing changes', enabled: true, action: { type: 'deny', id: p.id } },
          { key: `show:${p.id}`, title: 'Show diff', tooltip: 'open the exact diff', enabled: true, action: { type: 'show', id: p.id } },
        ],
      });
    }
    if (n > max) items.push(label('more', `… ${n - max} more: run \`kairos pending\``));
  }
  items.push(sep('sep-controls'));
  // One key for Pause and Resume: flipping it is an update of the entry, not a new menu.
  items.push(
    s.paused
      ? { key: 'pause', title: 'Resume', tooltip: 'start ambient work again', enabled: s.online, action: { type: 'resume' } }
      : { key: 'pause', title: 'Pause', tooltip: 'pause all ambient work until Resume', enabled: s.online, action: { type: 'pause' } },
  );
  items.push({ key: 'open-log', title: 'Open daily log', tooltip: "today's log of what Kairos did", enabled: true, action: { type: 'open-log' } });
  items.push({ key: 'quit', title: 'Quit tray', tooltip: 'close this icon; the daemon keeps running', enabled: true, action: { type: 'quit' } });
  return {
    status,
    pendingCount: n,
    title: status === 'pending' ? String(n) : '',
    tooltip: [statusLine, spendLine(s.spendToday)].join('\n'),
    items,
  };
}

/** What a click does: a control call (Show then opens the diff it returns), open the log, or quit. */
export type TrayEffect =
  | { kind: 'control'; method: string; params: Record<string, unknown>; after?: 'open-diff' }
  | { kind: 'open-log' }
  | { kind: 'quit' };

export function onClick(item: TrayItem): TrayEffect | null {
  const a = item.action;
  if (!a || !item.enabled) return null;
  switch (a.type) {
    case 'approve':
      return { kind: 'control', method: 'approvals.approve', params: { id: a.id, channel: 'tray' } };
    case 'deny':
      return { kind: 'control', method: 'approvals.deny', params: { id: a.id, channel: 'tray' } };
    case 'show':
      return { kind: 'control', method: 'approvals.show', params: { id: a.id }, after: 'open-diff' };
    case 'pause':
      return { kind: 'control', method: 'pause', params: { channel: 'tray' } };
    case 'resume':
      return { kind: 'control', method: 'resume', params: {} };
    case 'open-log':
      return { kind: 'open-log' };
    case 'quit':
      return { kind: 'quit' };
  }
}

/** The menu's items by key, sub-items included. */
export function itemsByKey(items: TrayItem[], into = new Map<string, TrayItem>()): Map<string, TrayItem> {
  for (const i of items) {
    into.set(i.key, i);
    if (i.items) itemsByKey(i.items, into);
  }
  return into;
}

/** Two models with the same structure differ only in what update-item can change. */
export function menuStructure(items: TrayItem[]): string {
  return items.map((i) => (i.items ? `${i.key}(${menuStructure(i.items)})` : i.key)).join(',');
}

// ---------------------------------------------------------------------------------------------
// Reading the state from the daemon

/** A spend window as `kairos spend --json` / spendReport gives it. */
interface SpendWindow {
  spent_usd: number;
  reserved_usd?: number;
  cap_usd: number;
  left_usd: number;
}

/** Today's spend and whether money is short, from a spend report's day / month windows. */
export function spendFacts(report: { day?: SpendWindow | undefined; month?: SpendWindow | undefined } | null | undefined): { spendToday: SpendToday | null; budgetLow: boolean } {
  if (!report) return { spendToday: null, budgetLow: false };
  const low = (w: SpendWindow | undefined): boolean => !!w && w.cap_usd > 0 && w.left_usd < w.cap_usd * BUDGET_LOW_SHARE;
  return {
    spendToday: report.day ? { spentUsd: report.day.spent_usd, capUsd: report.day.cap_usd } : { spentUsd: 0, capUsd: null },
    budgetLow: low(report.day) || low(report.month),
  };
}

/** What the tray can learn without the daemon (read from the store by `kairos tray`), used when `status` does not carry it. */
export interface LocalTrayFacts {
  paused?: boolean;
  spendToday?: SpendToday | null;
  budgetLow?: boolean;
}

/**
 * The state from the control socket: `status` and `approvals.pending`. `paused` and spend are taken
 * from `status` when it carries them (`paused`, `spend` as a spend report), else from `local`.
 */
export async function readTrayState(control: ControlCall, local?: () => LocalTrayFacts): Promise<TrayState> {
  let status: Record<string, unknown>;
  let pending: PendingApproval[];
  try {
    const answer = await control('status', {});
    status = isRecord(answer) ? answer : {};
    pending = z.array(PendingApproval).parse(await control('approvals.pending', {}));
  } catch (e) {
    let facts: LocalTrayFacts = {};
    try {
      facts = local?.() ?? {};
    } catch {
      // no store yet either
    }
    return { online: false, error: messageOf(e), paused: facts.paused ?? false, pending: [], spendToday: facts.spendToday ?? null, budgetLow: facts.budgetLow ?? false };
  }
  let facts: LocalTrayFacts = {};
  const needLocal = typeof status.paused !== 'boolean' || typeof status.spend !== 'object';
  if (needLocal && local) {
    try {
      facts = local();
    } catch {
      // the store is the daemon's; if it cannot be read now, the next refresh tries again
    }
  }
  const fromStatus = typeof status.spend === 'object' && status.spend !== null ? spendFacts(status.spend as Parameters<typeof spendFacts>[0]) : null;
  const modelPaused = isRecord(status.model_steps) ? status.model_steps.paused : undefined;
  return {
    online: true,
    paused: typeof status.paused === 'boolean' ? status.paused : (facts.paused ?? false),
    pending,
    spendToday: fromStatus ? fromStatus.spendToday : (facts.spendToday ?? null),
    budgetLow: (fromStatus ? fromStatus.budgetLow : (facts.budgetLow ?? false)) || (modelPaused !== undefined && modelPaused !== null && modelPaused !== false),
  };
}

