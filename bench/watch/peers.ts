/**
 * The processes a measurement compares: the Kairos daemon (`kairos run`, the real CLI), raw
 * @parcel/watcher, raw chokidar 5 and a Watchman server of the bench's own. Each is its own process,
 * so RSS, CPU ticks and inotify watches come from /proc for that process alone.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { callDaemon } from '../../src/cli/control-client.js';
import { DAEMON_NODE_ARGS, daemonEnv } from '../../src/cli/daemon-node-args.js';
import { BenchTimeout, until } from './measure.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '../../bin/kairos.js');

export interface Peer {
  pid: number;
  /** From spawn (or, for Watchman, from `watch-project`) until it reported ready. */
  readyMs: number;
  /** Lines it printed on stdout after ready (events, with --print). */
  lines: string[];
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

function track(proc: ChildProcess): { exited: Promise<number | string>; out: () => string; lines: string[]; onLine(fn: (l: string) => void): void } {
  let out = '';
  let partial = '';
  const lines: string[] = [];
  const listeners: Array<(l: string) => void> = [];
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      for (const fn of listeners) fn(l);
    }
  });
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-4000)));
  const exited = new Promise<number | string>((r) => proc.on('exit', (c, s) => r(c ?? s ?? -1)));
  return { exited, out: () => out, lines, onLine: (fn) => listeners.push(fn) };
}

const stopper = (proc: ChildProcess, exited: Promise<number | string>) => async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> => {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
  return exited;
};

/** Spawns a node peer script and resolves when it prints "ready". */
async function nodePeer(script: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<Peer> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, ['--max-old-space-size=4096', path.join(here, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const t = track(proc);
  let readyAt = 0;
  t.onLine((l) => {
    if (!readyAt && l === 'ready') readyAt = performance.now();
  });
  let gone = false;
  void t.exited.then(() => (gone = true));
  try {
    await until(() => {
      if (gone) throw new BenchTimeout(`${script} exited: ${t.out()}`);
      return readyAt;
    }, `${script} ready`, timeoutMs, 10);
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  const lines = t.lines;
  lines.splice(0, lines.indexOf('ready') + 1);
  return { pid: proc.pid!, readyMs: Math.round(readyAt - t0), lines, stop: stopper(proc, t.exited) };
}

export const IGNORED = ['.git', 'node_modules'];

/**
 * Raw @parcel/watcher (on a Watchman server with `watchmanSock`). With `snapshot`, it restarts as Kairos does: it subscribes and then compares the
 * tree with that snapshot (when there is one) before it says ready, and writes the snapshot when stopped.
 */
export function startParcel(root: string, o: { print?: boolean; timeoutMs?: number; snapshot?: string; watchmanSock?: string } = {}): Promise<Peer> {
  const backend = o.watchmanSock ? ['--backend', 'watchman'] : [];
  const args = [root, ...(o.print ? ['--print'] : []), ...(o.snapshot ? ['--snapshot', o.snapshot] : []), ...backend, ...IGNORED.flatMap((d) => ['--ignore', d])];
  return nodePeer('peer-parcel.js', args, o.timeoutMs ?? 300_000, o.watchmanSock ? { ...process.env, WATCHMAN_SOCK: o.watchmanSock } : process.env);
}

export function startChokidar(root: string, o: { timeoutMs?: number } = {}): Promise<Peer> {
  return nodePeer('peer-chokidar.js', [root, ...IGNORED.flatMap((d) => ['--ignore', d])], o.timeoutMs ?? 600_000);
}

export interface WatchmanServer {
  sock: string;
  pid: number;
  stop(): Promise<void>;
}

/** A Watchman server of the bench's own (socket, state and log in a temp folder): no shared crawl cache. */
export async function startWatchmanServer(): Promise<WatchmanServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-bench-watchman-'));
  const sock = path.join(dir, 'sock');
  const pidfile = path.join(dir, 'pid');
  const proc = spawn('watchman', ['--foreground', `--sockname=${sock}`, `--statefile=${path.join(dir, 'state')}`, `--logfile=${path.join(dir, 'log')}`, `--pidfile=${pidfile}`, '--no-save-state'], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  await until(() => fs.existsSync(sock) && fs.existsSync(pidfile) && Number(fs.readFileSync(pidfile, 'utf8').trim()) > 0, 'the Watchman server socket', 20_000);
  const pid = Number(fs.readFileSync(pidfile, 'utf8').trim());
  return {
    sock,
    pid,
    stop: async () => {
      proc.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `watchman watch-project`, a subscription through the CLI's persistent mode, and ready once a
 * `clock` with sync_timeout returns: Watchman answers it only when its crawl is complete and its
 * view is current. Its ignores come from the tree's .watchmanconfig (ignore_dirs), Watchman's own
 * way. The returned peer's pid is the server's (it holds the watches and the memory); stopping it
 * ends the subscription only. (Watchman 4.9's CLI sends no first result with empty_on_fresh_instance
 * and prints nothing at all with --server-encoding=json, so neither is used as the ready signal.)
 */
export async function watchmanSubscribe(server: WatchmanServer, root: string, timeoutMs = 300_000): Promise<Peer> {
  const t0 = performance.now();
  const cli = (args: string[], input?: string): string => {
    const r = spawnSync('watchman', [`--sockname=${server.sock}`, '--no-pretty', ...args], { encoding: 'utf8', timeout: timeoutMs, ...(input ? { input } : {}) });
    if (r.status !== 0 || /"error"/.test(r.stdout)) throw new BenchTimeout(`watchman ${args.join(' ')} failed: ${r.stderr || r.stdout || r.error?.message}`);
    return r.stdout;
  };
  const proj = JSON.parse(cli(['watch-project', root])) as { watch: string; relative_path?: string };
  const proc = spawn('watchman', [`--sockname=${server.sock}`, '-j', '-p', '--no-pretty'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const t = track(proc);
  let subscribed = false;
  t.onLine((l) => {
    if (l.includes('"subscribe"')) subscribed = true;
  });
  const sub: Record<string, unknown> = { fields: ['name'], empty_on_fresh_instance: true };
  if (proj.relative_path) sub.relative_root = proj.relative_path;
  proc.stdin!.end(JSON.stringify(['subscribe', proj.watch, 'bench', sub]) + '\n');
  try {
    await until(() => subscribed, 'the Watchman subscription', timeoutMs, 10);
    cli(['-j'], JSON.stringify(['clock', proj.watch, { sync_timeout: timeoutMs }]));
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  const readyMs = Math.round(performance.now() - t0);
  const lines = t.lines;
  lines.splice(0, lines.findIndex((l) => l.includes('"subscribe"')) + 1);
  return { pid: server.pid, readyMs, lines, stop: stopper(proc, t.exited) };
}

/** Paths a Watchman subscription reported, from its result lines. */
export function watchmanPaths(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const l of lines) {
    try {
      // With one field asked for, Watchman lists bare names; with several, objects.
      const pdu = JSON.parse(l) as { files?: Array<string | { name: string }> };
      for (const f of pdu.files ?? []) out.push(typeof f === 'string' ? f : f.name);
    } catch {
      // not a PDU line
    }
  }
  return out;
}

export interface KairosDaemon extends Peer {
  home: string;
  /** Wall-clock ms when the process was spawned, to place its log lines. */
  spawnedAt: number;
  status(): Promise<KairosStatus>;
  output(): string;
  exited: Promise<number | string>;
}

export interface KairosStatus {
  state: string;
  repos: Array<{ path: string; watcher: { engine: string; backend: string; state: string; files: number; dirs: number; ignored_dirs: number; offline: string; error: string | null } | null }>;
}

/**
 * `kairos run --repo <root>` (the real CLI, foreground). Ready is the moment `status` over the
 * control socket (polled every 50 ms) says the daemon is no longer indexing and every watcher is
 * watching: live events flow and offline changes were reported.
 */
export async function startKairos(root: string | string[], env: NodeJS.ProcessEnv, home: string, timeoutMs = 300_000): Promise<KairosDaemon> {
  const t0 = performance.now();
  const spawnedAt = Date.now();
  const repos = Array.isArray(root) ? root : [root];
  // With the node options and environment `kairos start` and the service unit give the daemon.
  const proc = spawn(process.execPath, [...DAEMON_NODE_ARGS, CLI, 'run', ...repos.flatMap((r) => ['--repo', r])], { env: daemonEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const t = track(proc);
  let out = '';
  proc.stdout!.on('data', (d) => (out = (out + String(d)).slice(-4000)));
  let gone = false;
  void t.exited.then(() => (gone = true));
  const status = async (): Promise<KairosStatus> => (await callDaemon(home, 'status', {}, 30_000)) as KairosStatus;
  // The moment is the daemon's own "ready" line (written when its state turns ready), as a raw peer's
  // is its "ready" line: polling the socket every 50 ms would add up to 50 ms to Kairos alone. The
  // socket still has to confirm it (every watcher watching), and is the moment when no line came.
  let logReadyAt = 0;
  let tail = '';
  proc.stderr!.on('data', (d) => {
    tail = (tail + String(d)).slice(-400);
    if (!logReadyAt && tail.includes('"msg":"ready"')) logReadyAt = performance.now();
  });
  let readyAt = 0;
  try {
    await until(async () => {
      if (gone) throw new BenchTimeout(`kairos run exited during start: ${t.out()}${out}`);
      const s = await status().catch(() => undefined);
      if (s?.state === 'ready' && s.repos.length === repos.length && s.repos.every((r) => r.watcher?.state === 'watching')) readyAt = logReadyAt || performance.now();
      if (s?.repos.some((r) => r.watcher?.state === 'failed')) throw new BenchTimeout(`a watcher failed: ${JSON.stringify(s.repos.map((r) => r.watcher?.error))}`);
      return readyAt;
    }, 'kairos ready', timeoutMs, 50);
  } catch (e) {
    proc.kill('SIGKILL');
    await t.exited;
    if (e instanceof BenchTimeout && String(e.message).includes('exited')) throw e;
    throw new BenchTimeout(`${(e as Error).message}\n${t.out()}`);
  }
  return {
    pid: proc.pid!,
    readyMs: Math.round(readyAt - t0),
    lines: t.lines,
    home,
    spawnedAt,
    status,
    output: () => t.out() + out,
    exited: t.exited,
    stop: stopper(proc, t.exited),
  };
}

/**
 * Where a start's time went, from the daemon's own log: spawn → its first log line ("starting", i.e.
 * node and the daemon's modules loaded) and the watcher's "indexed" line (scan, subscribe, offline diff).
 */
export function kairosStartup(d: KairosDaemon): { loadMs?: number; scanMs?: number; subscribeMs?: number; offlineMs?: number; subscribedEarly?: boolean; walk?: string } {
  try {
    const lines = fs.readFileSync(path.join(d.home, 'logs', 'kairos.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const mine = lines.filter((l) => l.pid === d.pid);
    const starting = mine.find((l) => l.msg === 'starting');
    const indexed = mine.find((l) => l.msg === 'indexed');
    return {
      ...(starting ? { loadMs: Date.parse(String(starting.time)) - d.spawnedAt } : {}),
      ...(indexed ? { scanMs: Number(indexed.scan_ms), subscribeMs: Number(indexed.subscribe_ms), offlineMs: Number(indexed.offline_ms), subscribedEarly: indexed.subscribed_early === true || indexed.early_subscription === true, ...(typeof indexed.walk === 'string' ? { walk: indexed.walk } : {}) } : {}),
    };
  } catch {
    return {};
  }
}
