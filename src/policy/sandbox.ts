import { BoundedOutput } from './bounded-output.js';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allow, ask, type Step, type Verdict } from './decision.js';
import type { LayerContext } from './layers.js';

/**
 * Layer 6: commands the agent runs do so without network, with the system read-only, writable
 * only in the task's worktree and a private /tmp, with credential directories hidden, and with
 * time, output and process-count limits.
 *
 * Linux uses bubblewrap directly. @anthropic-ai/sandbox-runtime (0.0.x, "research preview") was
 * evaluated: it wraps the same bubblewrap/sandbox-exec primitives but its point is an HTTP/SOCKS
 * proxy for per-domain network allow-lists (needing socat and ripgrep on Linux), it has none of
 * the time/output/process limits, and it pulls a second zod (v3) and node-forge. Kairos wants no
 * network at all, which `--unshare-net` gives without a proxy, so the few bwrap flags are clearer
 * than the dependency.
 */

export type SandboxBackend = 'bwrap' | 'sandbox-exec';

export interface SandboxStatus {
  backend: SandboxBackend | 'none';
  available: boolean;
  /** What was found, or why nothing works and how to fix it (for `kairos doctor`). */
  detail: string;
  /** The executable that was probed. */
  executable?: string;
}

export const NO_SANDBOX: SandboxStatus = { backend: 'none', available: false, detail: 'not probed' };

function which(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Finds a sandbox that actually works here, by running `true` in it. */
export function detectSandbox(opts: { platform?: NodeJS.Platform; bwrapPath?: string; envPath?: string } = {}): SandboxStatus {
  const platform = opts.platform ?? process.platform;
  if (platform === 'linux') {
    const bwrap = opts.bwrapPath ?? which('bwrap', opts.envPath);
    if (!bwrap) {
      return { backend: 'none', available: false, detail: 'bubblewrap (bwrap) is not installed — install it (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)' };
    }
    const r = spawnSync(bwrap, ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-all', '--die-with-parent', '--', '/bin/true'], {
      timeout: 10_000,
      encoding: 'utf8',
    });
    if (r.status === 0) return { backend: 'bwrap', available: true, detail: `bubblewrap works (${bwrap})`, executable: bwrap };
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0];
    return {
      backend: 'none',
      available: false,
      executable: bwrap,
      detail: `bubblewrap is installed but cannot create a sandbox here (${why}) — unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1, or an AppArmor profile for bwrap)`,
    };
  }
  if (platform === 'darwin') {
    const exe = '/usr/bin/sandbox-exec';
    if (!fs.existsSync(exe)) return { backend: 'none', available: false, detail: 'sandbox-exec is not present on this macOS' };
    const r = spawnSync(exe, ['-p', '(version 1)(allow default)', '/usr/bin/true'], { timeout: 10_000, encoding: 'utf8' });
    if (r.status === 0) return { backend: 'sandbox-exec', available: true, detail: 'sandbox-exec works', executable: exe };
    return { backend: 'none', available: false, executable: exe, detail: `sandbox-exec does not work here (${(r.stderr || '').trim()})` };
  }
  return { backend: 'none', available: false, detail: `no sandbox is supported on ${platform}` };
}

/**
 * The layer: a command chosen by the agent runs only in a sandbox; when there is none, a human must
 * approve running it unsandboxed. Commands written by the user in a trusted policy (`run:`) run as
 * the user wrote them.
 */
export function sandboxLayer(step: Step, ctx: LayerContext): Verdict {
  const a = step.action;
  if (!(a.type === 'tool' && a.call.tool === 'Bash' && step.origin === 'agent')) return allow();
  if (ctx.sandbox.available) return allow(`runs in the ${ctx.sandbox.backend} sandbox (no network, writes only in the worktree)`);
  return ask(`no sandbox available: approve to run unsandboxed (${ctx.sandbox.detail})`);
}

// ---------------------------------------------------------------------------------------------
// Running

export interface SandboxRunOptions {
  /** The only directory (besides the private /tmp) the command may write. Also its working directory. */
  worktree: string;
  /** A host directory to use as the sandbox's /tmp (so files survive for inspection); a fresh tmpfs when absent. */
  tmpDir?: string;
  /** The user's home: its credential directories are hidden. */
  home: string;
  /** Kairos's own state, hidden entirely. */
  kairosHome: string;
  /** More paths to hide. */
  hide?: readonly string[];
  /** Paths the command must be able to read (bound read-only), e.g. the repository's git folder for the git tool. */
  readOnly?: readonly string[];
  timeoutMs: number;
  /** Characters of output kept: half from the start, half from the end. */
  outputLimit: number;
  maxProcesses: number;
  /** Environment for the command; secret-looking variables are removed either way. */
  env?: NodeJS.ProcessEnv;
  killGraceMs?: number;
  status: SandboxStatus;
}

export interface SandboxResult {
  exitCode: number | null;
  signal: string | null;
  /** Which limit stopped the command, if one did. */
  limit?: 'time' | 'processes';
  durationMs: number;
  output: string;
  /** Characters dropped from the middle of the output. */
  omitted: number;
  spawnError?: string;
}

/** Credential locations under $HOME hidden from every sandboxed command. */
export const HIDDEN_HOME_PATHS = ['.ssh', '.aws', '.config/gh', '.gnupg', '.netrc', '.git-credentials', '.docker', '.kube', '.npmrc', '.pypirc', '.config/gcloud', '.azure', '.password-store', '.claude', '.config/anthropic'];

const SECRET_ENV = /(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|SESSION|COOKIE|AUTH)/i;
const SECRET_ENV_PREFIX = /^(AWS_|GH_|GITHUB_|GITLAB_|ANTHROPIC_|OPENAI_|AZURE_|GOOGLE_|GCLOUD_|KAIROS_|NPM_CONFIG_|SSH_|GPG_|DBUS_)/i;

/** The environment without anything that looks like a credential or a way to reach one. */
export function sandboxEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || SECRET_ENV.test(k) || SECRET_ENV_PREFIX.test(k)) continue;
    out[k] = v;
  }
  out.TMPDIR = '/tmp';
  return out;
}

function exists(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

/** The bwrap command line, exported so `kairos doctor` and tests can show it. */
export function bwrapArgs(command: string, opts: Pick<SandboxRunOptions, 'worktree' | 'tmpDir' | 'home' | 'kairosHome' | 'hide' | 'maxProcesses' | 'readOnly'>): string[] {
  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'];
  const hidden = [...HIDDEN_HOME_PATHS.map((p) => path.join(opts.home, p)), opts.kairosHome, ...(opts.hide ?? [])];
  for (const h of hidden) {
    const st = exists(h);
    if (!st) continue;
    // An empty tmpfs over a directory, /dev/null over a file: the path exists but shows nothing.
    if (st.isDirectory()) args.push('--tmpfs', h);
    else args.push('--ro-bind', '/dev/null', h);
  }
  for (const p of opts.readOnly ?? []) args.push('--ro-bind-try', p, p);
  // After the hiding, so a worktree kept under a hidden directory is still visible.
  args.push('--bind', opts.worktree, opts.worktree);
  if (opts.tmpDir) args.push('--bind', opts.tmpDir, '/tmp');
  args.push(
    '--unshare-all', // network, pid, ipc, uts, cgroup and (where possible) user namespaces
    '--die-with-parent',
    '--new-session', // no TIOCSTI: the command cannot type into the user's terminal
    '--cap-drop', 'ALL',
    '--chdir', opts.worktree,
    '--',
  );
  const prlimit = which('prlimit');
  if (prlimit) args.push(prlimit, `--nproc=${opts.maxProcesses}:${opts.maxProcesses}`, '--');
  args.push('/bin/sh', '-c', command);
  return args;
}

/** A sandbox-exec profile with the same intent as the bwrap flags (macOS; not exercised by CI). */
export function seatbeltProfile(opts: Pick<SandboxRunOptions, 'worktree' | 'tmpDir' | 'home' | 'kairosHome' | 'hide'>): string {
  const q = (p: string): string => JSON.stringify(p);
  const hidden = [...HIDDEN_HOME_PATHS.map((p) => path.join(opts.home, p)), opts.kairosHome, ...(opts.hide ?? [])];
  return [
    '(version 1)',
    '(allow default)',
    '(deny network*)',
    '(allow network* (local unix))',
    '(deny file-write*)',
    `(allow file-write* (subpath ${q(opts.worktree)}) (subpath ${q(opts.tmpDir ?? os.tmpdir())}) (literal "/dev/null") (literal "/dev/tty"))`,
    ...hidden.map((h) => `(deny file-read* file-write* (subpath ${q(h)}))`),
  ].join('\n');
}


/** Descendants of `root` (itself excluded), from /proc. Linux only. */
function countDescendants(root: number): number {
  const parent = new Map<number, number>();
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(e), ppid);
    } catch {
      // exited while we looked
    }
  }
  let n = 0;
  for (const pid of parent.keys()) {
    let p = parent.get(pid);
    for (let hops = 0; p !== undefined && p > 1 && hops < 64; hops++) {
      if (p === root) {
        n++;
        break;
      }
      p = parent.get(p);
    }
  }
  return n;
}

/**
 * Runs `command` in the sandbox. Never rejects: failures are values. The process-count limit is
 * RLIMIT_NPROC inside the sandbox (prlimit) plus a watchdog that counts the sandbox's processes,
 * because the kernel does not apply RLIMIT_NPROC to root.
 */
export function runSandboxed(command: string, opts: SandboxRunOptions): Promise<SandboxResult> {
  const started = Date.now();
  const out = new BoundedOutput(Math.floor(opts.outputLimit / 2));
  const env = sandboxEnv(opts.env ?? process.env);
  let exe: string;
  let args: string[];
  if (opts.status.backend === 'bwrap' && opts.status.available && opts.status.executable) {
    exe = opts.status.executable;
    args = bwrapArgs(command, opts);
  } else if (opts.status.backend === 'sandbox-exec' && opts.status.available) {
    exe = '/usr/bin/sandbox-exec';
    args = ['-p', seatbeltProfile(opts), '/bin/sh', '-c', command];
  } else {
    return Promise.resolve({ exitCode: null, signal: null, durationMs: 0, output: '', omitted: 0, spawnError: `no sandbox available: ${opts.status.detail}` });
  }
  return new Promise((resolve) => {
    const child = spawn(exe, args, { cwd: opts.worktree, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let limit: SandboxResult['limit'];
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const stop = (why: NonNullable<SandboxResult['limit']>): void => {
      if (limit) return;
      limit = why;
      killGroup(why === 'processes' ? 'SIGKILL' : 'SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), opts.killGraceMs ?? 2000);
    };
    const timer = setTimeout(() => stop('time'), opts.timeoutMs);
    const watchdog =
      process.platform === 'linux'
        ? setInterval(() => {
            // bwrap → (pid-namespace init) → sh → …: allow for the two bwrap processes and prlimit's exec.
            if (child.pid && countDescendants(child.pid) > opts.maxProcesses + 2) stop('processes');
          }, 100)
        : undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => out.push(d));
    const finish = (r: Omit<SandboxResult, 'durationMs' | 'output' | 'omitted'>): void => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      if (watchdog) clearInterval(watchdog);
      killGroup('SIGKILL');
      resolve({ ...r, ...(limit ? { limit } : {}), durationMs: Date.now() - started, output: out.toString(), omitted: out.omittedBytes });
    };
    child.on('error', (err) => finish({ exitCode: null, signal: null, spawnError: err.message }));
    child.on('close', (code, signal) => finish({ exitCode: code, signal }));
  });
}
