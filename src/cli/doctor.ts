import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { z } from 'zod';
import { detectNotifyBackend, notificationsPath } from '../report/notify.js';
import { chooseEngine, type EngineChoice } from '../events/watch-engine.js';
import { detectLimits } from '../policy/sandbox/limits.js';
import { shellGrammarStatus } from '../policy/shell.js';
import { verifyAudit } from './audit-command.js';
import { speechStatus } from '../report/speech.js';
import { loadPolicyOrDefault } from '../policy/load.js';
import { probeSqlite } from '../store/sqlite-probe.js';
import { messageOf } from '../core/errors.js';

export const DoctorStatus = z.enum(['ok', 'warn', 'fail']);
export const DoctorCheck = z.object({
  name: z.string(),
  status: DoctorStatus,
  detail: z.string(),
  /** What to run or change, when the status is not ok. */
  fix: z.string().optional(),
});
export type DoctorStatus = z.infer<typeof DoctorStatus>;
export type DoctorCheck = z.infer<typeof DoctorCheck>;

export interface DoctorOptions {
  home: string;
  /** The environment the daemon would run with (PATH finds git, bwrap, notify-send). */
  env: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  /** Where `sys/fs/inotify` is read from; tests point it at a fake tree. Default `/proc`. */
  procDir?: string;
  nodeVersion?: string;
  /** Per external program. Default 10 s. */
  timeoutMs?: number;
}

export const MIN_NODE = '20.19.0';
// The daemon's git runner passes settings as GIT_CONFIG_COUNT/KEY/VALUE and asks rev-parse for --path-format=absolute (both 2.31).
export const MIN_GIT = '2.31.0';
export const MIN_INOTIFY_WATCHES = 65536;
export const MIN_INOTIFY_INSTANCES = 128;
/** Below this a storm (a code generator, a large copy) can overflow the kernel's event queue; Kairos then rescans. */
export const MIN_INOTIFY_QUEUE = 65536;
const SANDBOX_FALLBACK = 'commands that would be sandboxed will need approval';

/** Runs every check (concurrently) and returns them in a fixed order. The caller decides the exit status. */
export async function runDoctor(options: DoctorOptions): Promise<DoctorCheck[]> {
  const o = {
    platform: process.platform,
    procDir: '/proc',
    nodeVersion: process.versions.node,
    timeoutMs: 10_000,
    ...options,
  };
  const guarded = async (name: string, check: () => Promise<DoctorCheck> | DoctorCheck): Promise<DoctorCheck> => {
    try {
      return await check();
    } catch (e) {
      return { name, status: 'fail', detail: `the check itself failed: ${messageOf(e)}` };
    }
  };
  return Promise.all([
    guarded('node', () => checkNode(o.nodeVersion)),
    guarded('sqlite', () => checkSqlite(o.home)),
    guarded('git', () => checkGit(o.env, o.timeoutMs)),
    guarded('inotify', () => checkInotify(o.platform, o.procDir)),
    guarded('watcher', () => checkWatcher(o.env)),
    guarded('notifications', () => checkNotifications(o.home, o.env, o.platform)),
    guarded('speech', () => checkSpeech(o.home, o.env)),
    guarded('sandbox', () => checkSandbox(o.env, o.platform, o.timeoutMs)),
    guarded('shell-grammar', checkShellGrammar),
    guarded('api-key', () => checkApiKey(o.env)),
    guarded('audit', () => checkAudit(o.home)),
  ]);
}

/** One line per check, with the fix indented under anything not ok, and a summary line. */
export function formatDoctor(checks: readonly DoctorCheck[]): string {
  const mark: Record<DoctorStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };
  const width = Math.max(...checks.map((c) => c.name.length), 4);
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${mark[c.status]}  ${c.name.padEnd(width)}  ${c.detail}`);
    if (c.fix && c.status !== 'ok') lines.push(`${' '.repeat(width + 8)}fix: ${c.fix}`);
  }
  const count = (s: DoctorStatus): number => checks.filter((c) => c.status === s).length;
  lines.push('');
  lines.push(`${count('ok')} ok, ${count('warn')} warning${count('warn') === 1 ? '' : 's'}, ${count('fail')} failed`);
  return lines.join('\n');
}

/** The bash grammar the policy parses commands with; without it every agent command asks. */
async function checkShellGrammar(): Promise<DoctorCheck> {
  const g = await shellGrammarStatus();
  return g.ok
    ? { name: 'shell-grammar', status: 'ok', detail: 'tree-sitter-bash loaded: commands are checked part by part' }
    : { name: 'shell-grammar', status: 'fail', detail: `${g.error}; every agent command waits for approval`, fix: 'reinstall kairos (npm install) so tree-sitter-bash and web-tree-sitter are present' };
}

function checkNode(version: string): DoctorCheck {
  const ok = compareVersions(version, MIN_NODE) >= 0;
  return ok
    ? { name: 'node', status: 'ok', detail: `v${version}` }
    : { name: 'node', status: 'fail', detail: `v${version} is older than v${MIN_NODE}`, fix: `install Node.js ${MIN_NODE} or newer (20 LTS, 22 or 24)` };
}

async function checkSqlite(home: string): Promise<DoctorCheck> {
  const name = 'sqlite';
  // A scratch file next to the real store: same filesystem, so WAL support and permissions are what the daemon gets.
  const probe = await probeSqlite(path.join(home, `.doctor-${process.pid}-${Date.now()}.db`));
  if (probe.kind === 'unloadable') {
    return { name, status: 'fail', detail: `better-sqlite3 does not load: ${firstLine(probe.error)}`, fix: 'run `npm rebuild better-sqlite3` (needs python3, make and a C++ compiler)' };
  }
  if (probe.kind === 'unopenable') {
    return { name, status: 'fail', detail: `cannot open a database in ${home}: ${firstLine(probe.error)}`, fix: `make ${home} a writable directory on a local filesystem, or set KAIROS_HOME` };
  }
  if (probe.journalMode !== 'wal') {
    return { name, status: 'fail', detail: `SQLite ${probe.version} opened ${home} in '${probe.journalMode}' mode, not WAL`, fix: `put KAIROS_HOME on a local filesystem (network filesystems cannot use WAL)` };
  }
  return { name, status: 'ok', detail: `better-sqlite3 loads; SQLite ${probe.version}, WAL works in ${home}` };
}

async function checkGit(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<DoctorCheck> {
  const r = await run('git', ['--version'], env, timeoutMs);
  if (r.missing) return { name: 'git', status: 'fail', detail: 'git is not on PATH', fix: 'install git (e.g. `sudo apt install git`, `xcode-select --install`)' };
  const version = /git version (\d+\.\d+(?:\.\d+)?)/.exec(r.stdout)?.[1];
  if (r.code !== 0 || !version) return { name: 'git', status: 'fail', detail: `\`git --version\` failed: ${r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`}` };
  if (compareVersions(version, MIN_GIT) < 0) {
    return { name: 'git', status: 'warn', detail: `git ${version} is older than ${MIN_GIT}; Kairos's hardened git calls need it`, fix: `upgrade git to ${MIN_GIT} or newer` };
  }
  return { name: 'git', status: 'ok', detail: `git ${version}` };
}

function checkInotify(platform: NodeJS.Platform, procDir: string): DoctorCheck {
  const name = 'inotify';
  if (platform === 'darwin') return { name, status: 'ok', detail: 'not used on macOS (FSEvents has no per-file watch limit)' };
  if (platform !== 'linux') return { name, status: 'ok', detail: `not used on ${platform}` };
  const read = (key: string): number | null => {
    try {
      const n = Number.parseInt(fs.readFileSync(path.join(procDir, 'sys/fs/inotify', key), 'utf8').trim(), 10);
      return Number.isFinite(n) ? n : null;
    } catch {
      // No such /proc entry: the doctor reports the limit as unknown.
      return null;
    }
  };
  const watches = read('max_user_watches');
  const instances = read('max_user_instances');
  if (watches === null || instances === null) {
    return { name, status: 'warn', detail: `cannot read ${path.join(procDir, 'sys/fs/inotify')}; file watching may hit limits unnoticed` };
  }
  const queued = read('max_queued_events');
  // Each limit with the floor below which it bites and the value the fix sets.
  const limits = [
    { key: 'max_user_watches', value: watches, min: MIN_INOTIFY_WATCHES, set: 524288, why: 'one watch per folder: large repositories run out' },
    { key: 'max_user_instances', value: instances, min: MIN_INOTIFY_INSTANCES, set: 512, why: 'one per watcher: many repositories and editors run out' },
    { key: 'max_queued_events', value: queued, min: MIN_INOTIFY_QUEUE, set: 524288, why: 'a burst of changes, such as a code generator or a large copy, overflows the queue and Kairos must rescan' },
  ];
  const detail = limits
    .filter((l) => l.value !== null)
    .map((l) => `${l.key} ${l.value}`)
    .join(', ');
  const low = limits.filter((l) => l.value !== null && l.value < l.min);
  if (!low.length) return { name, status: 'ok', detail };
  return {
    name,
    status: 'warn',
    detail: `${low.map((l) => `${l.key} ${l.value} is below ${l.min} (${l.why})`).join('; ')}; all: ${detail}`,
    fix: `printf '${low.map((l) => `fs.inotify.${l.key}=${l.set}`).join('\\n')}\\n' | sudo tee /etc/sysctl.d/60-kairos-inotify.conf && sudo sysctl --system`,
  };
}

/** Which engine would watch work trees, and why: the native one, Watchman, or the chokidar fallback. */
async function checkWatcher(env: NodeJS.ProcessEnv): Promise<DoctorCheck> {
  const name = 'watcher';
  let engine: EngineChoice;
  try {
    engine = await chooseEngine(env);
  } catch (e) {
    return { name, status: 'fail', detail: messageOf(e), fix: 'unset KAIROS_WATCHER (or set it to auto) to let Kairos choose' };
  }
  if (engine.name !== 'chokidar') return { name, status: 'ok', detail: `${engine.name} (${engine.backend}): ${engine.reason}` };
  if (env.KAIROS_WATCHER === 'chokidar') return { name, status: 'ok', detail: `chokidar: ${engine.reason}` };
  return { name, status: 'warn', detail: `chokidar fallback: ${engine.reason}`, fix: 'reinstall Kairos with optional dependencies (`npm ci`, not --omit=optional) so @parcel/watcher has its prebuilt binary' };
}

function checkNotifications(home: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform): DoctorCheck {
  const name = 'notifications';
  const record = notificationsPath(home);
  if (env.KAIROS_NOTIFY === 'off') return { name, status: 'ok', detail: `off (KAIROS_NOTIFY=off); still recorded in ${record}` };
  const backend = detectNotifyBackend(env, platform);
  if (!backend) {
    const fix =
      platform === 'darwin'
        ? 'reinstall node-notifier (`npm ci`); its terminal-notifier app is missing'
        : 'install notify-send: `sudo apt install libnotify-bin` (Debian/Ubuntu) or `sudo dnf install libnotify` (Fedora)';
    return { name, status: 'warn', detail: `no desktop notification program found; notifications are only recorded in ${record}`, fix };
  }
  const where = backend.path ? `${backend.name} (${backend.path})` : backend.name;
  if (platform === 'linux' && !env.DBUS_SESSION_BUS_ADDRESS && !env.DISPLAY && !env.WAYLAND_DISPLAY) {
    return {
      name,
      status: 'warn',
      detail: `${where} found, but no desktop session is visible (DISPLAY, WAYLAND_DISPLAY and DBUS_SESSION_BUS_ADDRESS are unset); notifications are recorded in ${record}`,
      fix: 'run the daemon inside your desktop session (the systemd user service imports it), or ignore on a headless machine',
    };
  }
  return { name, status: 'ok', detail: where };
}

/** Spoken notifications (notify.speak in the user's policy): which program would speak, and a fix when none can. */
function checkSpeech(home: string, env: NodeJS.ProcessEnv): DoctorCheck {
  let speak: boolean;
  try {
    speak = loadPolicyOrDefault(home).notify?.speak === true;
  } catch {
    // `kairos policy check` names what is wrong with the file; this line only says speech is undecided.
    return { name: 'speech', status: 'warn', detail: 'the policy does not load, so whether to speak is unknown', fix: "run 'kairos policy check'" };
  }
  return { name: 'speech', ...speechStatus(speak, env) };
}

async function checkSandbox(env: NodeJS.ProcessEnv, platform: NodeJS.Platform, timeoutMs: number): Promise<DoctorCheck> {
  const name = 'sandbox';
  if (platform !== 'linux') {
    return { name, status: 'warn', detail: `no command sandbox on ${platform}; ${SANDBOX_FALLBACK}` };
  }
  const r = await run('bwrap', ['--ro-bind', '/', '/', '--dev', '/dev', '--unshare-all', 'true'], env, timeoutMs);
  if (r.missing) {
    return { name, status: 'warn', detail: `bubblewrap (bwrap) is not installed; ${SANDBOX_FALLBACK}`, fix: '`sudo apt install bubblewrap` (Debian/Ubuntu) or `sudo dnf install bubblewrap` (Fedora)' };
  }
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${timeoutMs} ms` : r.stderr.trim().split('\n')[0] || `exit ${r.code}`;
    return {
      name,
      status: 'warn',
      detail: `bwrap is installed but cannot create a sandbox (${why}); ${SANDBOX_FALLBACK}`,
      fix: 'allow unprivileged user namespaces (e.g. `sudo sysctl kernel.unprivileged_userns_clone=1`, or an AppArmor profile for bwrap on Ubuntu 24.04+)',
    };
  }
  return withLimits({ name, status: 'ok', detail: 'bubblewrap works (no network, default-deny file system)' }, env, platform);
}

/** The limits backend commands run under (src/policy/sandbox/limits.ts), added to the sandbox line. */
function withLimits(check: DoctorCheck, env: NodeJS.ProcessEnv, platform: NodeJS.Platform): DoctorCheck {
  const l = detectLimits({ env, platform });
  const detail = `${check.detail}; limits: ${l.backend} — ${l.detail}`;
  if (l.backend === 'none') {
    return { ...check, status: 'warn', detail, fix: 'install util-linux (prlimit), or run the daemon where it may create cgroups (root, or a systemd user session)' };
  }
  if (l.backend === 'prlimit' && process.getuid?.() === 0) {
    return {
      ...check,
      status: 'warn',
      detail,
      fix: "as root the process limit needs a cgroup: a writable /sys/fs/cgroup (v1 pids and memory, or v2 with both enabled in the daemon's group's cgroup.subtree_control)" + (env.KAIROS_SANDBOX_LIMITS ? '; or unset KAIROS_SANDBOX_LIMITS, which forces this backend' : ''),
    };
  }
  return { ...check, detail };
}

function checkApiKey(env: NodeJS.ProcessEnv): DoctorCheck {
  const name = 'api-key';
  if (env.ANTHROPIC_API_KEY?.trim()) return { name, status: 'ok', detail: 'ANTHROPIC_API_KEY is set; model steps are on' };
  return {
    name,
    status: 'warn',
    detail: 'ANTHROPIC_API_KEY is not set: model steps are off; rules and commands still run',
    fix: "set ANTHROPIC_API_KEY in the daemon's environment: your shell profile for `kairos start`, or $KAIROS_HOME/env (mode 0600) for `kairos service install`",
  };
}

function checkAudit(home: string): DoctorCheck {
  const name = 'audit';
  const r = verifyAudit(home);
  if (r.ok) return { name, status: 'ok', detail: r.head ? `hash chain intact (${r.rows} rows)` : 'no audit yet' };
  return {
    name,
    status: 'fail',
    detail: `hash chain broken: ${r.problem!.message}`,
    fix: "the audit was changed outside Kairos: keep a copy of kairos.db and see 'kairos audit verify' and 'kairos audit --json'",
  };
}

interface RunResult {
  missing: boolean;
  code: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 1 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err;
      resolve({
        missing: e?.code === 'ENOENT',
        code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
        timedOut: !!e?.killed,
        stdout: String(stdout),
        stderr: String(stderr),
      });
    });
  });
}

/** Compares dotted numeric versions (a leading 'v' is ignored). */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string): number[] => v.replace(/^v/, '').split('.').map((p) => Number.parseInt(p, 10) || 0);
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
}
