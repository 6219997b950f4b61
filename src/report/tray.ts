import fs from 'node:fs';
import path from 'node:path';
import { dailyLogPath } from './daily-log.js';
import type { LogSink } from './logger.js';
import type { ControlCall } from './notify-actions.js';
import { openForReading, openWithDesktop, writeDiffForViewing, type OpenResult } from './show-diff.js';

/**
 * The tray icon: a client of the daemon's control socket (so it can be restarted on its own) that
 * shows the daemon's state and lets a person decide pending approvals.
 *
 * Three parts, each usable alone:
 * - the model, pure: `trayMenu(state)` → what the icon and menu show, `onClick(item)` → the control
 *   call a click makes;
 * - `TrayProcess`, the tray binary shipped in the systray2 package, driven over its JSON-lines
 *   stdin/stdout protocol;
 * - `runTray`, which polls the daemon and keeps the two in step.
 *
 * Why not systray2's own SysTray class (its binary and protocol are used as they are):
 * - it looks for the binary in `./traybin/` of the current directory first, so running `kairos tray`
 *   in a folder that has one would run that file;
 * - it chmods the binary inside node_modules at run time (fails on a root-owned global install);
 * - it cannot pass an environment to the binary, which Debian 12 needs (below);
 * - `kill()` exits the whole node process by default, and a non-JSON line on the binary's stdout throws.
 * The binary links libappindicator3.so.1, which Debian 12 no longer ships; the ABI-compatible
 * libayatana-appindicator3.so.1 (package libayatana-appindicator3-1) is linked in its place through a
 * private LD_LIBRARY_PATH under $KAIROS_HOME/lib.
 *
 * The binary can change an item but cannot add or remove one after start, so a change in which
 * items exist (a new pending approval) restarts it with the new menu; anything else is an update.
 */

export * from './tray-menu.js';
export * from './tray-process.js';
import { itemsByKey, onClick, readTrayState, trayMenu, type LocalTrayFacts, type TrayItem, type TrayModel, type TrayState } from './tray-menu.js';
import { TrayProcess, TrayUnavailableError, locateTrayBinary, trayEnvironment } from './tray-process.js';
import { messageOf, asError } from '../core/errors.js';
import { isRecord } from '../core/record.js';

// ---------------------------------------------------------------------------------------------
// Running it

export interface TrayRunOptions {
  home: string;
  /** `(m, p) => callDaemon(home, m, p)`; passed in because src/report does not import the CLI. */
  control: ControlCall;
  /** Facts read from the store when `status` does not carry them (see readTrayState). */
  local?: () => LocalTrayFacts;
  /** How often the daemon is asked. Default 3 s. */
  refreshMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Default: locateTrayBinary(home). */
  binPath?: string;
  openFile?: (file: string) => void;
  /** Opens a Show diff and says whether it could. Default: openForReading (an opener, or a terminal). */
  openDiff?: (file: string) => OpenResult | Promise<OpenResult>;
  log?: LogSink;
  now?: () => Date;
  /** Told after each refresh and each answered click (the CLI prints nothing; tests wait on these). */
  onRefresh?: (state: TrayState, model: TrayModel) => void;
  onAction?: (item: TrayItem, outcome: { ok: boolean; result?: unknown; error?: string }) => void;
}

export interface RunningTray {
  /** Resolves when the tray stops (Quit, stop(), or the binary failing repeatedly; then it rejects). */
  done: Promise<void>;
  refresh(): Promise<void>;
  /** The click handler the binary's click events go to, by item key (for scripts and tests). */
  click(key: string): Promise<void>;
  current(): TrayModel | null;
  pid(): number | undefined;
  stop(): Promise<void>;
}

const MAX_RESTARTS = 5;

export async function runTray(o: TrayRunOptions): Promise<RunningTray> {
  const env = o.env ?? process.env;
  const log = o.log;
  const binPath = o.binPath ?? locateTrayBinary(o.home);
  const trayEnv = trayEnvironment(o.home, env);
  const openFile = o.openFile ?? openWithDesktop;
  const openDiff = o.openDiff ?? ((file: string) => openForReading(file, { env }));
  const now = o.now ?? (() => new Date());
  let proc: TrayProcess | null = null;
  let stopped = false;
  let failures = 0;
  let chain: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let finish!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => {
    finish = res;
    fail = rej;
  });
  done.catch(() => undefined);

  // Refreshes and clicks run one at a time, so a click never races a menu rebuild.
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn, fn);
    chain = p.catch(() => undefined);
    return p;
  };

  const handle = (item: TrayItem): Promise<void> =>
    serial(async () => {
      const effect = onClick(item);
      if (!effect) return;
      if (effect.kind === 'quit') {
        void stop();
        return;
      }
      if (effect.kind === 'open-log') {
        const file = dailyLogPath(o.home, now());
        openFile(fs.existsSync(file) ? file : path.dirname(file));
        o.onAction?.(item, { ok: true, result: { file } });
        return;
      }
      try {
        const result = effect.after === 'open-diff' ? await showAndOpen(String(effect.params.id)) : await o.control(effect.method, effect.params);
        log?.info({ action: item.key }, 'tray action done');
        o.onAction?.(item, { ok: true, result });
      } catch (e) {
        log?.warn({ action: item.key, err: messageOf(e) }, 'tray action refused');
        o.onAction?.(item, { ok: false, error: messageOf(e) });
      }
      await doRefresh();
    });

  const showAndOpen = async (id: string): Promise<unknown> => {
    const r = await o.control('approvals.show', { id });
    const diff = isRecord(r) ? r.diff : undefined;
    const file = writeDiffForViewing(o.home, id, typeof diff === 'string' ? diff : null);
    const opened = await openDiff(file);
    // Nothing could show it: say what to run, where the person will see it (the tray's log line, the action result).
    if (!opened.opened) log?.warn({ file, why: opened.why }, `nothing here could open the diff; run: kairos show ${id}`);
    return { file, ...opened, ...(opened.opened ? {} : { run: `kairos show ${id}` }) };
  };

  const doRefresh = async (): Promise<void> => {
    if (stopped) return;
    const state = await readTrayState(o.control, o.local);
    const model = trayMenu(state);
    if (proc && proc.running && proc.update(model)) {
      o.onRefresh?.(state, model);
      return;
    }
    const old = proc;
    proc = null;
    await old?.stop();
    if (stopped) return;
    try {
      proc = await TrayProcess.start(model, {
        binPath,
        env: trayEnv,
        log,
        onClick: (item) => void handle(item),
        onExit: (code, signal, stderr) => {
          if (stopped) return;
          log?.warn({ code, signal, stderr: stderr.slice(-500) }, 'tray binary exited; restarting it');
        },
      });
      failures = 0;
      // stop() ran while the binary was starting (it found no process to stop): stop this one, or it
      // outlives the tray and keeps the process from exiting.
      if (stopped) {
        const late = proc;
        proc = null;
        await late.stop();
        return;
      }
    } catch (e) {
      failures++;
      log?.warn({ err: messageOf(e), failures }, 'tray binary failed to start');
      if (failures >= MAX_RESTARTS || !(e instanceof TrayUnavailableError)) {
        void stop(asError(e));
        throw e;
      }
      return;
    }
    o.onRefresh?.(state, model);
  };

  const loop = (): void => {
    timer = setTimeout(() => {
      void serial(doRefresh)
        .catch(() => undefined)
        .finally(() => {
          if (!stopped) loop();
        });
    }, o.refreshMs ?? 3000);
  };

  const stop = async (err?: Error): Promise<void> => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    const p = proc;
    proc = null;
    await p?.stop();
    if (err) fail(err);
    else finish();
  };

  await serial(doRefresh);
  loop();

  return {
    done,
    refresh: () => serial(doRefresh),
    click: async (key) => {
      const item = proc ? itemsByKey(proc.model.items).get(key) : undefined;
      if (!item) throw new Error(`the tray menu has no item '${key}'`);
      await handle(item);
    },
    current: () => proc?.model ?? null,
    pid: () => proc?.pid,
    stop: () => stop(),
  };
}

