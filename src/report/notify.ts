import fs from 'node:fs';
import path from 'node:path';
import type nodeNotifierModule from 'node-notifier';
import type NotifySend from 'node-notifier/notifiers/notifysend.js';
import type { LogSink } from './logger.js';
import { stripTerminalEscapes, truncateText } from './terminal-text.js';
import { redactText } from '../policy/filter.js';
import { InternalError, UnavailableError, messageOf } from '../core/errors.js';
import { isRecord } from '../core/record.js';
import { packageRequire } from '../core/package-root.js';

export type Urgency = 'low' | 'normal' | 'critical';

export interface Notification {
  title: string;
  body: string;
  urgency?: Urgency;
  /** Labels for buttons. Recorded; desktop backends do not show them yet (an answer needs a reply channel). */
  actions?: string[];
}

/** What is handed to a backend: cleaned, bounded, urgency filled in. */
export interface ShownNotification {
  title: string;
  body: string;
  urgency: Urgency;
  actions: string[];
}

/**
 * shown: the backend accepted it. disabled: notifications are off. unavailable: no backend on this machine.
 * failed: the backend ran and reported an error. timeout: the backend did not answer in time.
 * held: gathered to be shown with others (presence.batch_every, src/report/notify-batch.ts).
 */
export type NotifyStatus = 'shown' | 'disabled' | 'unavailable' | 'failed' | 'timeout' | 'held';
export interface NotifyResult {
  status: NotifyStatus;
  detail?: string;
}

export type NotifyBackend = (n: ShownNotification) => Promise<void>;

export interface NotifierOptions {
  /** False when the user turned notifications off (the daemon reads KAIROS_NOTIFY). Still recorded. */
  enabled: boolean;
  /** Replaces the desktop backend (node-notifier); e.g. a tray. */
  backend?: NotifyBackend;
  log: LogSink;
  /** Where the JSONL record goes; defaults to `notificationsPath(home)` when `home` is given, else no record. */
  recordFile?: string;
  home?: string;
  /** How long a backend may take before the call gives up (the notification may still appear). Default 5 s. */
  timeoutMs?: number;
  /** The icon (a PNG path) the default desktop backend shows; see notify-icon.ts. */
  icon?: string;
  now?: () => Date;
}

export interface Notifier {
  /** Never throws and never waits longer than the timeout. */
  notify(n: Notification): Promise<NotifyResult>;
}

export const TITLE_MAX = 80;
export const BODY_MAX = 200;
const DEFAULT_TIMEOUT_MS = 5000;

/** The append-only record of every notification inside a Kairos home. */
export function notificationsPath(home: string): string {
  return path.join(home, 'notifications.jsonl');
}

/**
 * Bounds and cleans a notification: secrets redacted (a body may quote a command's output or a
 * model's words, and notifications are shown and recorded), escapes stripped, title one line, body
 * at most BODY_MAX characters. Redaction comes before truncation, so a cut cannot hide a key's shape.
 */
export function prepareNotification(n: Notification): ShownNotification {
  const title = truncateText(oneLine(stripTerminalEscapes(redactText(n.title))) || 'Kairos', TITLE_MAX);
  const body = truncateText(
    stripTerminalEscapes(redactText(n.body))
      .split('\n')
      .map((l) => l.replace(/[ \t]+/g, ' ').trim())
      .filter(Boolean)
      .join('\n'),
    BODY_MAX,
  );
  const actions = (n.actions ?? []).map((a) => truncateText(oneLine(stripTerminalEscapes(a)), 40)).filter(Boolean);
  return { title, body, urgency: n.urgency ?? 'normal', actions };
}

export class NotifyBackendUnavailableError extends UnavailableError {
  override readonly name = 'NotifyBackendUnavailableError';
}

export function createNotifier(options: NotifierOptions): Notifier {
  const { log } = options;
  const now = options.now ?? (() => new Date());
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const recordFile = options.recordFile ?? (options.home ? notificationsPath(options.home) : undefined);
  const backend = options.backend ?? desktopNotifyBackend(options.icon);
  // A headless box fails the same way every time: say so once, then stay quiet.
  const warned = new Set<NotifyStatus>();

  const record = (n: ShownNotification, result: NotifyResult): void => {
    if (!recordFile) return;
    try {
      fs.mkdirSync(path.dirname(recordFile), { recursive: true });
      // One appendFileSync per line: a single O_APPEND write, so concurrent writers never interleave.
      fs.appendFileSync(recordFile, JSON.stringify({ at: now().toISOString(), ...n, ...result }) + '\n');
    } catch (e) {
      log.warn({ file: recordFile, err: messageOf(e) }, 'could not record notification');
    }
  };

  return {
    async notify(input) {
      const n = prepareNotification(input);
      let result: NotifyResult;
      if (!options.enabled) {
        result = { status: 'disabled' };
      } else {
        result = await callWithTimeout(backend, n, timeoutMs);
        if (result.status !== 'shown') {
          const first = !warned.has(result.status);
          warned.add(result.status);
          const msg =
            result.status === 'unavailable'
              ? 'desktop notifications unavailable; they are still recorded in notifications.jsonl'
              : `desktop notification ${result.status}`;
          if (first) log.warn({ status: result.status, detail: result.detail }, msg);
          else log.debug({ status: result.status, detail: result.detail }, msg);
        }
      }
      record(n, result);
      return result;
    },
  };
}

async function callWithTimeout(backend: NotifyBackend, n: ShownNotification, timeoutMs: number): Promise<NotifyResult> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<NotifyResult>((resolve) => {
    // Not unref'd: the caller awaits this promise, so the timer must be able to settle it.
    timer = setTimeout(() => resolve({ status: 'timeout', detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  const call = (async (): Promise<NotifyResult> => {
    try {
      await backend(n);
      return { status: 'shown' };
    } catch (e) {
      if (e instanceof NotifyBackendUnavailableError) return { status: 'unavailable', detail: e.message };
      return { status: 'failed', detail: e instanceof Error ? e.message : String(e) };
    }
  })();
  try {
    return await Promise.race([call, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export interface DetectedBackend {
  name: 'notify-send' | 'terminal-notifier' | 'windows-toaster' | 'growl';
  /** The executable, when one is needed and was found. */
  path?: string;
}

/**
 * The desktop backend node-notifier would use here, or null if its program is missing.
 * Looked up on `env.PATH` each time, so installing notify-send while the daemon runs starts working.
 */
export function detectNotifyBackend(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): DetectedBackend | null {
  if (platform === 'linux' || platform.endsWith('bsd')) {
    const found = findOnPath('notify-send', env.PATH ?? '');
    return found ? { name: 'notify-send', path: found } : null;
  }
  if (platform === 'darwin') {
    // node-notifier ships its own terminal-notifier app.
    const dir = path.dirname(packageRequire().resolve('node-notifier/package.json'));
    const bin = path.join(dir, 'vendor/mac.noindex/terminal-notifier.app/Contents/MacOS/terminal-notifier');
    return fs.existsSync(bin) ? { name: 'terminal-notifier', path: bin } : null;
  }
  if (platform === 'win32') return { name: 'windows-toaster' };
  return { name: 'growl' };
}

/** The executable `name` on a PATH-style list, or undefined. */
export function findOnPath(name: string, pathVar: string): string | undefined {
  for (const dir of pathVar.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

// @types/node-notifier 8 lags node-notifier 10: NotifySend takes suppressOsdCheck, and notify-send's
// app name (--app-name) is a notification field. Declared here, next to their one use.
declare module 'node-notifier' {
  interface Option {
    /** Skip node-notifier's own which(notify-send) check, whose "missing" answer is cached for the life of the process. */
    suppressOsdCheck?: boolean;
  }
}
declare module 'node-notifier/notifiers/notifysend.js' {
  interface Notification {
    'app-name'?: string;
  }
}

// `require` answers `any`: the library's shape is checked before it is used as its typed self.
function isNodeNotifier(v: unknown): v is typeof nodeNotifierModule {
  return isRecord(v) && typeof v.notify === 'function' && typeof v.NotifySend === 'function';
}

/**
 * node-notifier, with the Linux program check done here so a missing notify-send is 'unavailable',
 * not 'failed'. It says it is Kairos (notify-send would otherwise name itself) and shows `icon`.
 */
export function desktopNotifyBackend(icon?: string): NotifyBackend {
  const linuxLike = process.platform === 'linux' || process.platform.endsWith('bsd');
  // node-notifier (~11 MB loaded) is the fallback behind D-Bus: loaded when first used, not with the daemon.
  let loaded: typeof nodeNotifierModule | undefined;
  let notifySend: NotifySend | undefined;
  const nodeNotifier = (): typeof nodeNotifierModule => {
    if (loaded) return loaded;
    const mod: unknown = packageRequire()('node-notifier');
    if (!isNodeNotifier(mod)) throw new InternalError('node-notifier loaded without notify() and NotifySend: is the installed version the one package.json names?');
    return (loaded = mod);
  };
  // suppressOsdCheck: node-notifier's own check caches "missing" for the life of the process.
  const linuxNotifier = (): NotifySend => (notifySend ??= new (nodeNotifier().NotifySend)({ suppressOsdCheck: true }));
  return (n) => {
    if (!detectNotifyBackend(process.env, process.platform)) {
      return Promise.reject(new NotifyBackendUnavailableError(linuxLike ? 'notify-send is not on PATH' : 'no notification program found'));
    }
    return new Promise<void>((resolve, reject) => {
      // node-notifier passes a non-empty stderr as `err` even when the program succeeded: only an Error is a failure.
      const done = (err: unknown): void => (err instanceof Error ? reject(err) : resolve());
      if (linuxLike) {
        linuxNotifier().notify(
          {
            title: n.title,
            // node-notifier flattens newlines for notify-send; and notification servers read the body as markup.
            message: escapeMarkup(n.body.replace(/\n/g, ' · ')) || ' ',
            urgency: n.urgency,
            timeout: n.urgency === 'critical' ? 30 : 10,
            'app-name': 'Kairos',
            ...(icon ? { icon } : {}),
          },
          done,
        );
      } else {
        nodeNotifier().notify({ title: n.title, message: n.body || ' ', sound: n.urgency === 'critical', wait: false, timeout: false }, done);
      }
    });
  };
}

function escapeMarkup(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}
