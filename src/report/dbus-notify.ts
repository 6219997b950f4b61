import type * as DBus from 'dbus-next';
import type { LogSink } from './logger.js';
import { openForReading, writeDiffForViewing, type OpenResult } from './show-diff.js';
import { prepareNotification, type Notifier, type NotifyResult, type ShownNotification } from './notify.js';
import {
  dbusActionList,
  NotificationTokens,
  outcomeNotification,
  proposalNotification,
  type ActionOutcome,
  type ControlCall,
  type NotifyAction,
  type ProposalNotice,
} from './notify-actions.js';
import { UnavailableError, errnoCode, messageOf } from '../core/errors.js';
import { isRecord } from '../core/record.js';
import { notificationsProxy, type NotificationsProxy } from './dbus-notifications-proxy.js';

/**
 * Proposal notifications with Approve / Deny / Show buttons on Linux, through
 * org.freedesktop.Notifications on the session bus (dbus-next). node-notifier's Linux path runs
 * notify-send, which cannot report a click back, so buttons need the bus itself.
 *
 * A click arrives as ActionInvoked(notification id, key); the notifier looks the one-time token
 * up in memory (see notify-actions.ts for why tokens never go on the bus) and makes the daemon's
 * control call with it, exactly as the tray and CLI do, so the queue alone decides. Where there
 * is no session bus or the server has no "actions" capability, the proposal goes to the fallback
 * notifier (node-notifier) with the commands to run in its body.
 *
 * One app name and one icon for everything Kairos shows (proposals, follow-ups, task results via
 * notifyPlain). A proposal decided anywhere else (CLI, tray, expiry) is withdrawn with
 * CloseNotification, so no button is left on screen that can only fail.
 */

const NAME = 'org.freedesktop.Notifications';
const OBJECT_PATH = '/org/freedesktop/Notifications';
const DEFAULT_CALL_TIMEOUT_MS = 5000;

export interface DbusNotifierOptions {
  appName?: string;
  /** The app_icon sent with every notification: an absolute PNG path or a theme icon name. Default: 'dialog-information'. */
  icon?: string;
  /** Default: DBUS_SESSION_BUS_ADDRESS (dbus-next's own lookup). */
  busAddress?: string;
  /** $KAIROS_HOME: Show writes the diff under $KAIROS_HOME/show/ (0700). */
  home: string;
  /**
   * How a click reaches the daemon: `(m, p) => callDaemon(home, m, p, 120_000)` (src/cli/control-client.ts),
   * passed in because src/report does not import the CLI. Use a long timeout: approve waits for the apply.
   */
  control: ControlCall;
  /** Used when buttons cannot be shown (no bus, no server, no "actions"). Default: none, the proposal is only logged. */
  fallback?: Notifier;
  /** Told after every answered click (tests, the daemon's log). Never sees a token. */
  onOutcome?: (o: ActionOutcome) => void;
  /** Opens the diff file Show writes and says whether it could (see show-diff.ts). Default: openForReading. */
  openFile?: (file: string) => OpenResult | Promise<OpenResult>;
  log?: LogSink;
  /** Bound on each bus call. Default 5 s. */
  callTimeoutMs?: number;
  now?: () => number;
}

export type ProposalNotifyResult =
  | { channel: 'dbus'; notificationId: number }
  | { channel: 'fallback'; reason: string; result: NotifyResult | null };

export interface DbusNotifier {
  /** Shows the proposal with buttons, or through the fallback with the commands to run. Never throws. */
  notifyProposal(n: ProposalNotice): Promise<ProposalNotifyResult>;
  /** A notification without buttons (a task's result, an applied change), same app name and icon; throws DbusUnavailableError without a server. */
  notifyPlain(n: ShownNotification): Promise<void>;
  /**
   * Closes (CloseNotification) every notification still showing this approval's buttons: it was
   * decided elsewhere. One whose own button is being answered is left to its follow-up. Returns how many were closed.
   */
  withdraw(approvalId: string): Promise<number>;
  /** The server's capabilities, or null when there is no bus or server. */
  capabilities(): Promise<string[] | null>;
  /** Withdraws the proposal notifications it showed (their buttons die with it) and disconnects. */
  close(): Promise<void>;
}

export class DbusUnavailableError extends UnavailableError {
  override name = 'DbusUnavailableError';
}

interface Connection {
  bus: DBus.MessageBus;
  proxy: NotificationsProxy;
}

const SILENT: LogSink = { debug() {}, info() {}, warn() {}, error() {} };

let loadedDbusNext: typeof DBus | undefined;

/** Whether a notification has loaded dbus-next in this process yet (the daemon's `debug.lazy_modules`). */
export function dbusNextLoaded(): boolean {
  return loadedDbusNext !== undefined;
}

async function loadDbusNext(): Promise<typeof DBus> {
  loadedDbusNext ??= (await import('dbus-next')).default;
  return loadedDbusNext;
}

export function createDbusNotifier(options: DbusNotifierOptions): DbusNotifier {
  const appName = options.appName ?? 'Kairos';
  const icon = options.icon ?? 'dialog-information';
  const log = options.log ?? SILENT;
  const timeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const control = options.control;
  const openFile = options.openFile ?? ((file: string) => openForReading(file));
  const tokens = new NotificationTokens(options.now);
  // Notifications whose own button is being answered (their follow-up replaces them), and the
  // approvals withdrawn meanwhile (a Show follow-up must not bring their buttons back).
  const answering = new Set<number>();
  const answered = new Set<number>();
  const withdrawnWhileAnswering = new Set<string>();
  let connecting: Promise<Connection> | null = null;
  let closed = false;

  const connect = (): Promise<Connection> => {
    connecting ??= (async () => {
      // dbus-next and its XML libraries (~12 MB) are loaded with the first notification, not at start:
      // watching never needs them, and many daemons never notify over D-Bus.
      let dbus: typeof DBus;
      try {
        dbus = await loadDbusNext();
      } catch (e) {
        throw new DbusUnavailableError(`dbus-next could not be loaded: ${messageOf(e)}`, { cause: e });
      }
      let bus: DBus.MessageBus;
      try {
        bus = dbus.sessionBus(options.busAddress ? { busAddress: options.busAddress } : {});
      } catch (e) {
        throw new DbusUnavailableError(`no D-Bus session bus: ${messageOf(e)}`, { cause: e });
      }
      // A bus that goes away must not crash the daemon: drop it, and the next notification reconnects.
      let failed: (e: Error) => void = () => undefined;
      const busError = new Promise<never>((_, reject) => (failed = reject));
      busError.catch(() => undefined);
      bus.on('error', (e: unknown) => {
        log.debug({ err: messageOf(e) }, 'D-Bus session bus connection lost');
        connecting = null;
        failed(e instanceof Error ? e : new Error(String(e)));
      });
      try {
        const obj = await withTimeout(Promise.race([bus.getProxyObject(NAME, OBJECT_PATH), busError]), timeoutMs, 'connecting to the notification server');
        const proxy = notificationsProxy(obj.getInterface(NAME));
        proxy.onActionInvoked((id, key) => void onAction(proxy, id, key));
        proxy.onNotificationClosed((id, reason) => log.debug({ notification: id, reason }, 'notification closed'));
        return { bus, proxy };
      } catch (e) {
        bus.disconnect();
        throw new DbusUnavailableError(`no notification server on the session bus: ${messageOf(e)}`, { cause: e });
      }
    })();
    const p = connecting;
    p.catch(() => {
      if (connecting === p) connecting = null;
    });
    return p;
  };

  const notify = async (proxy: NotificationsProxy, n: ShownNotification, o: { replaces?: number; actions: NotifyAction[]; resident: boolean; markup: boolean }): Promise<number> => {
    // connect() has loaded dbus-next before any proxy exists.
    const dbus = loadedDbusNext!;
    const hints: Record<string, DBus.Variant> = {
      urgency: new dbus.Variant('y', n.urgency === 'low' ? 0 : n.urgency === 'critical' ? 2 : 1),
      // resident: a Show click must not take the Approve / Deny buttons away with the notification.
      resident: new dbus.Variant('b', o.resident),
    };
    const body = o.markup ? escapeMarkup(n.body) : n.body;
    // expire_timeout 0: a proposal waits for the human (the approval expires on its own clock).
    const timeout = o.actions.length > 0 ? 0 : -1;
    return withTimeout(proxy.Notify(appName, o.replaces ?? 0, icon, n.title, body, dbusActionList(o.actions), hints, timeout), timeoutMs, 'Notify');
  };

  const onAction = async (proxy: NotificationsProxy, notificationId: number, key: string): Promise<void> => {
    const req = tokens.requestFor(notificationId, key);
    if (!req) return; // another application's notification, or a key we never offered
    log.info({ notification: notificationId, approval: req.approvalId, action: req.action }, 'notification button clicked');
    answering.add(notificationId);
    try {
      let outcome: ActionOutcome;
      try {
        const result = await control(req.method, req.params);
        outcome = { notificationId, approvalId: req.approvalId, action: req.action, ok: true, result: req.action === 'show' ? withoutDiff(result) : result };
        if (req.action === 'show') outcome.opened = await showDiff(req.approvalId, result);
      } catch (e) {
        outcome = { notificationId, approvalId: req.approvalId, action: req.action, ok: false, error: { message: messageOf(e), code: errnoCode(e) ?? 'error' } };
      }
      log[outcome.ok ? 'info' : 'warn']({ approval: outcome.approvalId, action: outcome.action, ok: outcome.ok, error: outcome.error?.message }, 'notification action answered');
      try {
        options.onOutcome?.(outcome);
      } catch {
        // A listener's failure must not stop the follow-up notification.
      }
      await followUp(proxy, outcome).catch((e: Error) => log.debug({ err: e.message }, 'follow-up notification failed'));
      // Approve / Deny answered here: the follow-up is what stays on screen, never withdrawn. (Its
      // entry stays, so a repeated click still goes to the queue and comes back refused.)
      if (req.action !== 'show') answered.add(notificationId);
      else if (withdrawnWhileAnswering.has(req.approvalId)) {
        tokens.forget(notificationId);
        await close(proxy, notificationId);
      }
    } finally {
      answering.delete(notificationId);
      withdrawnWhileAnswering.delete(req.approvalId);
    }
  };

  const close = async (proxy: NotificationsProxy, id: number): Promise<void> => {
    await withTimeout(proxy.CloseNotification(id), timeoutMs, 'CloseNotification').catch((e: Error) => log.debug({ notification: id, err: e.message }, 'CloseNotification failed'));
  };

  const showDiff = async (approvalId: string, result: unknown): Promise<OpenResult> => {
    const diff = isRecord(result) ? result.diff : undefined;
    try {
      return await openFile(writeDiffForViewing(options.home, approvalId, typeof diff === 'string' ? diff : null));
    } catch (e) {
      return { opened: false, why: messageOf(e) };
    }
  };

  const followUp = async (proxy: NotificationsProxy, o: ActionOutcome): Promise<void> => {
    const caps = await withTimeout(proxy.GetCapabilities(), timeoutMs, 'GetCapabilities');
    const text = outcomeNotification(o);
    // After Show the decision is still open: keep Approve / Deny (their tokens are unspent).
    const keepDeciding = o.action === 'show' && !withdrawnWhileAnswering.has(o.approvalId);
    await notify(proxy, prepareNotification({ title: text.title, body: text.body, urgency: text.urgent ? 'critical' : 'normal' }), {
      replaces: o.notificationId,
      actions: keepDeciding ? ['approve', 'deny'] : [],
      resident: keepDeciding,
      markup: caps.includes('body-markup'),
    });
  };

  const capabilities = async (): Promise<string[] | null> => {
    if (closed) return null;
    try {
      const { proxy } = await connect();
      return await withTimeout(proxy.GetCapabilities(), timeoutMs, 'GetCapabilities');
    } catch (e) {
      log.debug({ err: messageOf(e) }, 'desktop notification capabilities unavailable');
      return null;
    }
  };

  const toFallback = async (n: ProposalNotice, reason: string): Promise<ProposalNotifyResult> => {
    log.info({ approval: n.approvalId, reason }, 'proposal notification without buttons');
    if (!options.fallback) return { channel: 'fallback', reason, result: null };
    const shown = proposalNotification(n, { withCommands: true });
    return { channel: 'fallback', reason, result: await options.fallback.notify(shown) };
  };

  return {
    capabilities,

    async notifyPlain(n) {
      if (closed) throw new DbusUnavailableError('the notifier is closed');
      const { proxy } = await connect();
      const caps = await withTimeout(proxy.GetCapabilities(), timeoutMs, 'GetCapabilities');
      await notify(proxy, n, { actions: [], resident: false, markup: caps.includes('body-markup') });
    },

    async withdraw(approvalId) {
      const ids = tokens.idsFor(approvalId).filter((id) => !answered.has(id));
      if (ids.length === 0 || closed) return 0;
      let proxy: NotificationsProxy;
      try {
        proxy = (await connect()).proxy;
      } catch {
        // No session bus or server now: nothing to close; connect() reports that once where notifications are sent.
        return 0;
      }
      let n = 0;
      for (const id of ids) {
        if (answered.has(id)) continue;
        if (answering.has(id)) {
          withdrawnWhileAnswering.add(approvalId);
          continue;
        }
        tokens.forget(id);
        await close(proxy, id);
        n++;
      }
      if (n) log.info({ approval: approvalId, closed: n }, 'proposal notification withdrawn: decided elsewhere');
      return n;
    },

    async notifyProposal(n) {
      if (closed) return toFallback(n, 'the notifier is closed');
      let conn: Connection;
      let caps: string[];
      try {
        conn = await connect();
        caps = await withTimeout(conn.proxy.GetCapabilities(), timeoutMs, 'GetCapabilities');
      } catch (e) {
        return toFallback(n, messageOf(e));
      }
      if (!caps.includes('actions')) return toFallback(n, 'the notification server does not support actions');
      const actions: NotifyAction[] = ['approve', 'deny', 'show'];
      try {
        const id = await notify(conn.proxy, proposalNotification(n, { withCommands: false, actions }), { actions, resident: true, markup: caps.includes('body-markup') });
        tokens.remember(id, n);
        log.info({ notification: id, approval: n.approvalId }, 'proposal notification shown with buttons');
        return { channel: 'dbus', notificationId: id };
      } catch (e) {
        return toFallback(n, `Notify failed: ${messageOf(e)}`);
      }
    },

    async close() {
      closed = true;
      const c = connecting;
      connecting = null;
      if (!c) return;
      // A click comes back to this connection only: once it is gone the buttons are dead, so take them
      // off the screen (the daemon shows pending proposals again, with fresh tokens, when it starts).
      const conn = await c.catch(() => null);
      if (!conn) return;
      for (const id of tokens.ids()) if (!answered.has(id)) await close(conn.proxy, id);
      conn.bus.disconnect();
    },
  };
}

function withoutDiff(result: unknown): unknown {
  if (result && typeof result === 'object' && 'diff' in result) {
    const { diff: _diff, ...rest } = result as Record<string, unknown>;
    return rest;
  }
  return result;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new DbusUnavailableError(`${what}: no answer from the session bus within ${ms} ms`)), ms);
    }),
  ]);
}

function escapeMarkup(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
