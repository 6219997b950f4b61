import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { LogSink } from './logger.js';
import { trayIconPng } from './tray-icons.js';
import { menuStructure, type TrayItem, type TrayModel } from './tray-menu.js';
import { UnavailableError } from '../core/errors.js';
import { isRecord } from '../core/record.js';
import { packageRequire } from '../core/package-root.js';

/** The tray binary shipped in the systray2 package, driven over its JSON-lines stdin/stdout protocol. */
// ---------------------------------------------------------------------------------------------
// The tray binary

export class TrayUnavailableError extends UnavailableError {
  override name = 'TrayUnavailableError';
}

const BINARIES: Partial<Record<NodeJS.Platform, string>> = { linux: 'tray_linux_release', darwin: 'tray_darwin_release', win32: 'tray_windows_release.exe' };

/**
 * The systray2 tray binary for this platform, made executable: used in place when it already is,
 * else copied to $KAIROS_HOME/bin (0700) — never chmod-ed inside node_modules, never from the cwd.
 */
export function locateTrayBinary(home: string, platform: NodeJS.Platform = process.platform): string {
  const name = BINARIES[platform];
  if (!name) throw new TrayUnavailableError(`the tray has no binary for ${platform}; use \`kairos pending\` and notifications instead`);
  const pkgDir = path.dirname(packageRequire().resolve('systray2/package.json'));
  const shipped = path.join(pkgDir, 'traybin', name);
  if (!fs.existsSync(shipped)) throw new TrayUnavailableError(`the systray2 package has no ${name} at ${shipped}; reinstall Kairos`);
  try {
    fs.accessSync(shipped, fs.constants.X_OK);
    return shipped;
  } catch {
    // npm installs it without the execute bit
  }
  const dir = path.join(home, 'bin');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const copy = path.join(dir, name);
  const same = fs.existsSync(copy) && fs.readFileSync(copy).equals(fs.readFileSync(shipped));
  if (!same) {
    const tmp = `${copy}.${process.pid}.tmp`;
    fs.copyFileSync(shipped, tmp);
    fs.chmodSync(tmp, 0o700);
    fs.renameSync(tmp, copy);
  }
  return copy;
}

function sharedLibraries(): string {
  for (const ldconfig of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    const r = spawnSync(ldconfig, ['-p'], { encoding: 'utf8' });
    if (!r.error && r.status === 0) return r.stdout;
  }
  return '';
}

function libraryPath(listing: string, soname: string): string | null {
  for (const line of listing.split('\n')) {
    const m = /^\s*(\S+)\s.*=>\s*(\S+)\s*$/.exec(line);
    if (m && m[1] === soname) return m[2]!;
  }
  return null;
}

/**
 * The environment the binary needs here. On Linux: a graphical session, GTK 3, and
 * libappindicator3.so.1 — provided from libayatana-appindicator3.so.1 where only that exists.
 */
export function trayEnvironment(home: string, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): NodeJS.ProcessEnv {
  if (platform !== 'linux') return env;
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) throw new TrayUnavailableError('the tray needs a graphical session: neither DISPLAY nor WAYLAND_DISPLAY is set');
  const libs = sharedLibraries();
  if (libs && !libraryPath(libs, 'libgtk-3.so.0')) throw new TrayUnavailableError('the tray needs GTK 3: install libgtk-3-0 (Debian/Ubuntu) or gtk3');
  if (!libs || libraryPath(libs, 'libappindicator3.so.1')) return env;
  const ayatana = libraryPath(libs, 'libayatana-appindicator3.so.1');
  if (!ayatana) {
    throw new TrayUnavailableError('the tray needs an app-indicator library: install libayatana-appindicator3-1 (Debian 12+, Ubuntu 22.04+) or libappindicator3-1');
  }
  const dir = path.join(home, 'lib');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const link = path.join(dir, 'libappindicator3.so.1');
  let current: string | null = null;
  try {
    current = fs.readlinkSync(link);
  } catch {
    // not there yet
  }
  if (current !== ayatana) {
    fs.rmSync(link, { force: true });
    fs.symlinkSync(ayatana, link);
  }
  return { ...env, LD_LIBRARY_PATH: env.LD_LIBRARY_PATH ? `${dir}:${env.LD_LIBRARY_PATH}` : dir };
}

interface WireItem {
  title: string;
  tooltip: string;
  enabled: boolean;
  checked: boolean;
  hidden: boolean;
  items?: WireItem[];
  __id: number;
}

/** The systray2 wire form of a model; ids are numbered depth first from 1, as systray2 numbers them. */
function toWire(model: TrayModel): { menu: Record<string, unknown>; ids: Map<number, TrayItem>; byKey: Map<string, WireItem> } {
  const ids = new Map<number, TrayItem>();
  const byKey = new Map<string, WireItem>();
  let next = 1;
  const conv = (i: TrayItem): WireItem => {
    const id = next++;
    ids.set(id, i);
    const w: WireItem = { title: i.title, tooltip: i.tooltip, enabled: i.enabled, checked: false, hidden: false, __id: id };
    if (i.items) w.items = i.items.map(conv);
    byKey.set(i.key, w);
    return w;
  };
  const items = model.items.map(conv);
  return { menu: { icon: trayIconPng(model.status, model.pendingCount).toString('base64'), title: model.title, tooltip: model.tooltip, items, isTemplateIcon: false }, ids, byKey };
}

export interface TrayProcessOptions {
  binPath: string;
  env: NodeJS.ProcessEnv;
  onClick: (item: TrayItem) => void;
  onExit?: (code: number | null, signal: NodeJS.Signals | null, stderr: string) => void;
  log?: LogSink;
}

/** One running tray binary showing one menu structure. */
export class TrayProcess {
  private wire: ReturnType<typeof toWire>;
  private stderr = '';
  private exited = false;
  private readonly proc: ChildProcess;

  private constructor(
    model: TrayModel,
    private readonly o: TrayProcessOptions,
  ) {
    this.wire = toWire(model);
    this.model = model;
    this.proc = spawn(o.binPath, [], { env: o.env, stdio: ['pipe', 'pipe', 'pipe'] });
  }

  model: TrayModel;

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get running(): boolean {
    return !this.exited;
  }

  static start(model: TrayModel, o: TrayProcessOptions, readyTimeoutMs = 15_000): Promise<TrayProcess> {
    const t = new TrayProcess(model, o);
    return t.init(readyTimeoutMs).then(() => t);
  }

  private init(readyTimeoutMs: number): Promise<void> {
    const { proc } = this;
    proc.stderr!.setEncoding('utf8');
    // Keep the tail only: GTK can be chatty, and this is for the error message.
    proc.stderr!.on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-4000)));
    proc.stdin!.on('error', () => undefined); // the binary died; 'exit' reports it
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        if (!ready) {
          proc.kill('SIGTERM');
          reject(new TrayUnavailableError(`the tray binary did not start within ${readyTimeoutMs} ms: ${this.stderr.trim() || 'no output'}`));
        }
      }, readyTimeoutMs);
      proc.on('error', (e) => {
        clearTimeout(timer);
        this.exited = true;
        reject(new TrayUnavailableError(`could not run the tray binary ${this.o.binPath}: ${e.message}`));
      });
      proc.on('exit', (code, signal) => {
        this.exited = true;
        clearTimeout(timer);
        if (!ready) reject(new TrayUnavailableError(`the tray binary exited (${code ?? signal}) before it was ready: ${this.stderr.trim() || 'no output'}`));
        else this.o.onExit?.(code, signal, this.stderr);
      });
      const rl = readline.createInterface({ input: proc.stdout! });
      rl.on('line', (line) => {
        let msg: Record<string, unknown>;
        try {
          const parsed: unknown = JSON.parse(line);
          msg = isRecord(parsed) ? parsed : {};
        } catch {
          this.o.log?.debug({ line: line.slice(0, 200) }, 'tray binary printed a non-JSON line');
          return;
        }
        if (msg.type === 'ready' && !ready) {
          ready = true;
          clearTimeout(timer);
          this.write(this.wire.menu);
          resolve();
        } else if (msg.type === 'clicked' && typeof msg.__id === 'number') {
          const item = this.wire.ids.get(msg.__id);
          if (item) this.o.onClick(item);
        }
      });
    });
  }

  private write(obj: unknown): void {
    if (!this.exited) this.proc.stdin!.write(JSON.stringify(obj) + '\n');
  }

  /** Shows `next`, which must have this menu's structure (menuStructure equal); returns false if it has not. */
  update(next: TrayModel): boolean {
    if (menuStructure(next.items) !== menuStructure(this.model.items)) return false;
    const wire = toWire(next);
    for (const [key, w] of wire.byKey) {
      const old = this.wire.byKey.get(key);
      if (old && (old.title !== w.title || old.tooltip !== w.tooltip || old.enabled !== w.enabled)) {
        const { items: _children, ...item } = w;
        this.write({ type: 'update-item', item, seq_id: -1 });
      }
    }
    const m = wire.menu;
    const o = this.wire.menu;
    if (m.icon !== o.icon || m.title !== o.title || m.tooltip !== o.tooltip) this.write({ type: 'update-menu', menu: { ...m, items: [] } });
    this.wire = wire;
    this.model = next;
    return true;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.write({ type: 'exit' });
    const timer = setTimeout(() => this.proc.kill('SIGTERM'), 2000);
    await gone;
    clearTimeout(timer);
  }
}

