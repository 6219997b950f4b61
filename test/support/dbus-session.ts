import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dbus from 'dbus-next';

/**
 * A private D-Bus session bus (the real dbus-daemon from Debian's `dbus` package) and a small
 * notification server speaking org.freedesktop.Notifications on it, for tests of the desktop
 * notification path. The server records what clients send and emits ActionInvoked /
 * NotificationClosed when a test asks, as a person clicking would make a real server do.
 */

export interface DbusSession {
  /** The bus address, e.g. `unix:path=/tmp/kairos-dbus-XXXX/bus`. */
  address: string;
  stop(): Promise<void>;
}

/** Why a private bus cannot be started here, or null when it can. */
export function dbusUnavailableReason(): string | null {
  const r = spawnSync('dbus-daemon', ['--version'], { encoding: 'utf8' });
  if (r.error) return 'dbus-daemon is not installed (Debian package: dbus); .ci/run installs it';
  return null;
}

/** Starts `dbus-daemon --session --nofork` listening on a socket in a fresh temp folder. */
export async function startDbusSession(): Promise<DbusSession> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-dbus-'));
  const proc: ChildProcess = spawn(
    'dbus-daemon',
    ['--session', '--nofork', '--nopidfile', '--print-address=1', `--address=unix:path=${path.join(dir, 'bus')}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`dbus-daemon printed no address within 10 s: ${err}`)), 10_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dbus-daemon exited ${code} before printing its address: ${err}`));
    });
    proc.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl).trim());
      }
    });
  });
  return {
    address,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RecordedNotification {
  id: number;
  appName: string;
  replacesId: number;
  appIcon: string;
  summary: string;
  body: string;
  /** Flat [key, label, key, label, ...] as the spec sends it. */
  actions: string[];
  hints: Record<string, unknown>;
  expireTimeout: number;
}

export interface NotificationServerOptions {
  /** Default: actions, body, body-markup, persistence. */
  capabilities?: string[];
  /** A server off the specification: Notify answers its id as a string (signature 's', not 'u'). */
  notifyAnswersString?: boolean;
}

export interface NotificationServer {
  /** Every Notify call, in order (a replacement is recorded again under the same id). */
  readonly notifications: RecordedNotification[];
  /** Ids passed to CloseNotification. */
  readonly closeRequests: number[];
  /** Resolves with the first recorded notification (from index `from` on) that matches. */
  waitForNotification(match: (n: RecordedNotification) => boolean, from?: number, timeoutMs?: number): Promise<RecordedNotification>;
  /**
   * As a click on a button: emits ActionInvoked(id, key), then (unless the notification asked to
   * be resident) NotificationClosed(id, 2), as real servers do.
   */
  invokeAction(id: number, key: string): void;
  /** Emits NotificationClosed(id, reason): 1 expired, 2 dismissed, 3 CloseNotification, 4 other. */
  closeNotification(id: number, reason: number): void;
  stop(): Promise<void>;
}

const NAME = 'org.freedesktop.Notifications';
const OBJECT_PATH = '/org/freedesktop/Notifications';

function plain(v: unknown): unknown {
  return v instanceof dbus.Variant ? plain(v.value) : v;
}

/** Owns org.freedesktop.Notifications on the bus at `address`. */
export async function startNotificationServer(address: string, options: NotificationServerOptions = {}): Promise<NotificationServer> {
  const capabilities = options.capabilities ?? ['actions', 'body', 'body-markup', 'persistence'];
  const notifications: RecordedNotification[] = [];
  const closeRequests: number[] = [];
  const waiters = new Set<() => void>();
  let nextId = 1;

  class Notifications extends dbus.interface.Interface {
    GetCapabilities(): string[] {
      return capabilities;
    }
    Notify(appName: string, replacesId: number, appIcon: string, summary: string, body: string, actions: string[], hints: Record<string, unknown>, expireTimeout: number): number | string {
      const id = replacesId > 0 ? replacesId : nextId++;
      const plainHints = Object.fromEntries(Object.entries(hints).map(([k, v]) => [k, plain(v)]));
      notifications.push({ id, appName, replacesId, appIcon, summary, body, actions, hints: plainHints, expireTimeout });
      for (const w of waiters) w();
      return options.notifyAnswersString ? String(id) : id;
    }
    CloseNotification(id: number): void {
      closeRequests.push(id);
      setImmediate(() => this.NotificationClosed(id, 3));
    }
    GetServerInformation(): [string, string, string, string] {
      return ['kairos-test-notifications', 'kairos', '1.0', '1.2'];
    }
    ActionInvoked(id: number, key: string): [number, string] {
      return [id, key];
    }
    NotificationClosed(id: number, reason: number): [number, number] {
      return [id, reason];
    }
  }
  Notifications.configureMembers({
    methods: {
      GetCapabilities: { outSignature: 'as' },
      Notify: { inSignature: 'susssasa{sv}i', outSignature: options.notifyAnswersString ? 's' : 'u' },
      CloseNotification: { inSignature: 'u' },
      GetServerInformation: { outSignature: 'ssss' },
    },
    signals: {
      ActionInvoked: { signature: 'us' },
      NotificationClosed: { signature: 'uu' },
    },
  });

  const bus = dbus.sessionBus({ busAddress: address });
  const iface = new Notifications(NAME);
  bus.export(OBJECT_PATH, iface);
  const reply = await bus.requestName(NAME, dbus.NameFlag.DO_NOT_QUEUE);
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) throw new Error(`could not own ${NAME} on ${address} (reply ${reply})`);

  return {
    notifications,
    closeRequests,
    waitForNotification: (match, from = 0, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = notifications.slice(from).find(match);
          if (!found) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching notification within ${timeoutMs} ms; got: ${JSON.stringify(notifications.map((n) => n.summary))}`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      }),
    invokeAction: (id, key) => {
      iface.ActionInvoked(id, key);
      const last = [...notifications].reverse().find((n) => n.id === id);
      if (last?.hints.resident !== true) iface.NotificationClosed(id, 2);
    },
    closeNotification: (id, reason) => iface.NotificationClosed(id, reason),
    stop: async () => {
      await bus.releaseName(NAME).catch(() => undefined);
      bus.disconnect();
    },
  };
}
