import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BoundedOutput } from '../bounded-output.js';
import type { SandboxSettings } from '../schema.js';
import { bwrapArgs } from './bwrap.js';
import { JOIN_EXIT } from './cgroup.js';
import type { SandboxStatus } from './detect.js';
import { sandboxEnv } from './env.js';
import { resolveLimits, type SandboxLimits } from './limits-config.js';
import { detectLimits, prepareLimits, type LimitsRun, type LimitsStatus } from './limits.js';
import { planMounts, sandboxHome } from './mounts.js';
import { seatbeltProfile } from './seatbelt.js';
import { messageOf } from '../../core/errors.js';

export interface SandboxRunOptions {
  /** The only host folder (besides the private /tmp) the command may write. Also its working directory. */
  worktree: string;
  /** The repository the worktree belongs to: its node_modules and git data are shown read-only. */
  repo?: string;
  /** A host directory to use as the sandbox's /tmp (so files survive for inspection); a fresh tmpfs when absent. */
  tmpDir?: string;
  /** The user's home: the command sees an empty one at the same path. */
  home: string;
  /** Kairos's own state: never shown (kept so callers need not change; nothing under it is mounted). */
  kairosHome: string;
  timeoutMs: number;
  /** Characters of output kept: half from the start, half from the end. */
  outputLimit: number;
  /** The policy's `sandbox:` (extra paths, variables, limits). */
  settings?: SandboxSettings;
  /** Overrides the policy's process limit (older callers). */
  maxProcesses?: number;
  /** Overrides single limits (tests). */
  limits?: Partial<SandboxLimits>;
  /** The daemon's environment: only allow-listed variables reach the command. */
  env?: NodeJS.ProcessEnv;
  killGraceMs?: number;
  status: SandboxStatus;
}

export type SandboxLimitHit = 'time' | 'processes' | 'memory' | 'cpu';

export interface SandboxResult {
  exitCode: number | null;
  signal: string | null;
  /** Which limit stopped (or, for memory, cut into) the command, if one did. */
  limit?: SandboxLimitHit;
  /** Most processes at once, where the kernel counts it (cgroup pids.peak). */
  peakProcesses?: number;
  durationMs: number;
  output: string;
  /** Characters dropped from the middle of the output. */
  omitted: number;
  spawnError?: string;
}

/** 128 + SIGXCPU: what a shell or bwrap reports for a process stopped by RLIMIT_CPU. */
const EXIT_SIGXCPU = 128 + (os.constants.signals.SIGXCPU ?? 24);

let probedLimits: LimitsStatus | undefined;
function limitsOf(status: SandboxStatus): LimitsStatus {
  return status.limits ?? (probedLimits ??= detectLimits());
}

/** The limits a command runs under: policy, then the caller's overrides. */
export function effectiveLimits(opts: Pick<SandboxRunOptions, 'settings' | 'maxProcesses' | 'limits' | 'timeoutMs'>): SandboxLimits {
  return { ...resolveLimits(opts.settings, opts.timeoutMs), ...(opts.maxProcesses !== undefined ? { processes: opts.maxProcesses } : {}), ...opts.limits };
}

/** Runs `command` with /bin/sh in the sandbox. Never rejects: failures are values. */
export function runSandboxed(command: string, opts: SandboxRunOptions): Promise<SandboxResult> {
  return runSandboxedArgv(['/bin/sh', '-c', command], opts);
}

const failed = (spawnError: string): SandboxResult => ({ exitCode: null, signal: null, durationMs: 0, output: '', omitted: 0, spawnError });

/** Runs a program (no shell) in the sandbox, e.g. git with checked arguments. Never rejects. */
export async function runSandboxedArgv(argv: readonly string[], opts: SandboxRunOptions): Promise<SandboxResult> {
  const st = opts.status;
  if (!st.available || (st.backend !== 'bwrap' && st.backend !== 'sandbox-exec')) return failed(`no sandbox available: ${st.detail}`);
  if (argv.length === 0) return failed('nothing to run');
  const limits = effectiveLimits(opts);
  let run: LimitsRun;
  try {
    run = prepareLimits(limitsOf(st), limits);
  } catch (e) {
    // Fail closed: a command that should be limited does not run unlimited.
    return failed(`could not set up the resource limits (${messageOf(e)}); run 'kairos doctor'`);
  }
  const home = sandboxHome(opts.home);
  const mounts = planMounts({
    worktree: opts.worktree,
    home: opts.home,
    ...(opts.repo ? { repo: opts.repo } : {}),
    ...(opts.tmpDir ? { tmpDir: opts.tmpDir } : {}),
    ...(opts.settings?.read ? { read: opts.settings.read } : {}),
    ...(opts.settings?.write ? { write: opts.settings.write } : {}),
    ...(opts.env ? { env: opts.env } : {}),
  });
  const env: NodeJS.ProcessEnv = { ...sandboxEnv(opts.env ?? process.env, { home, ...(opts.settings?.env ? { allow: opts.settings.env } : {}) }), ...run.wrapperEnv };
  let full: string[];
  let dataFds: string[] = [];
  let privateDir: string | undefined;
  if (st.backend === 'bwrap') {
    const b = bwrapArgs(mounts, { cwd: opts.worktree, unsetEnv: Object.keys(run.wrapperEnv) });
    dataFds = b.dataFds;
    full = run.wrap([st.executable ?? 'bwrap', ...b.args, '--', ...run.inner, ...argv]);
  } else {
    privateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-sbx-'));
    fs.mkdirSync(path.join(privateDir, 'home'));
    fs.mkdirSync(path.join(privateDir, 'tmp'));
    Object.assign(env, { HOME: path.join(privateDir, 'home'), TMPDIR: path.join(privateDir, 'tmp') });
    full = run.wrap(['/usr/bin/sandbox-exec', '-p', seatbeltProfile(mounts, { privateDir }), ...run.inner, ...argv]);
  }
  try {
    return await spawnLimited(full, dataFds, env, opts, limits, run);
  } finally {
    await run.dispose();
    if (privateDir) fs.rmSync(privateDir, { recursive: true, force: true });
  }
}

function spawnLimited(argv: string[], dataFds: string[], env: NodeJS.ProcessEnv, opts: SandboxRunOptions, limits: SandboxLimits, run: LimitsRun): Promise<SandboxResult> {
  const started = Date.now();
  const out = new BoundedOutput(Math.floor(opts.outputLimit / 2));
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.worktree, env, detached: true, stdio: ['ignore', 'pipe', 'pipe', ...dataFds.map(() => 'pipe' as const)] });
    dataFds.forEach((data, i) => {
      const s = child.stdio[3 + i];
      if (!s || !('write' in s)) return; // stdio 'pipe' above: always a writable socket
      s.on('error', () => {}); // bwrap died before reading it: the exit says why
      s.end(data);
    });
    let limit: SandboxLimitHit | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const stop = (why: SandboxLimitHit): void => {
      if (limit) return;
      limit = why;
      killGroup(why === 'processes' ? 'SIGKILL' : 'SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), opts.killGraceMs ?? 2000);
    };
    const timer = setTimeout(() => stop('time'), opts.timeoutMs);
    // A command that reaches its process limit is stopped: a fork bomb would otherwise spin at the
    // limit until the time limit. With a group the kernel counts refused forks; without one (as root
    // the kernel ignores RLIMIT_NPROC) the host's task count is watched, which costs one read: a
    // rise the command could explain is checked by counting its processes (bwrap, its pid 1 and
    // prlimit's exec allowed for), a rise far beyond its limit stops it at once, because counting
    // thousands of processes would take longer than the bomb needs to make thousands more.
    const baseline = process.platform === 'linux' ? hostTasks() : undefined;
    const watchdog =
      process.platform === 'linux'
        ? setInterval(() => {
            if (run.countsForks) {
              if (run.hits().processes) stop('processes');
              return;
            }
            const rise = (hostTasks() ?? 0) - (baseline ?? 0);
            if (rise > 16 * limits.processes) stop('processes');
            else if (rise > limits.processes && child.pid !== undefined && countDescendants(child.pid) > limits.processes + 3) stop('processes');
          }, 100)
        : undefined;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => out.push(d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => out.push(d));
    let done = false;
    const finish = (r: Pick<SandboxResult, 'exitCode' | 'signal' | 'spawnError'>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      if (watchdog) clearInterval(watchdog);
      killGroup('SIGKILL');
      const hits = run.hits();
      if (!limit) {
        if (hits.memory) limit = 'memory';
        else if (hits.processes) limit = 'processes';
        else if (r.exitCode === EXIT_SIGXCPU || r.signal === 'SIGXCPU') limit = 'cpu';
      }
      const spawnError = r.spawnError ?? (r.exitCode === JOIN_EXIT && /cannot join the sandbox's cgroup/.test(out.toString()) ? out.toString().trim() : undefined);
      resolve({
        exitCode: r.exitCode,
        signal: r.signal,
        ...(limit ? { limit } : {}),
        ...(hits.peakProcesses !== undefined ? { peakProcesses: hits.peakProcesses } : {}),
        durationMs: Date.now() - started,
        output: out.toString(),
        omitted: out.omittedBytes,
        ...(spawnError ? { spawnError } : {}),
      });
    };
    child.on('error', (err) => finish({ exitCode: null, signal: null, spawnError: err.message }));
    child.on('close', (code, signal) => finish({ exitCode: code, signal }));
  });
}

/** Tasks (threads) on the host, from the 4th field of /proc/loadavg ("running/total"). */
function hostTasks(): number | undefined {
  try {
    return Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[3]?.split('/')[1]);
  } catch {
    // No /proc (macOS): the count is unknown and the caller goes without it.
    return undefined;
  }
}

/** Descendants of `root` (itself excluded), from /proc. Linux only. */
export function countDescendants(root: number): number {
  const parent = new Map<number, number>();
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    // No /proc (macOS): no descendants can be counted, and the limit is then enforced by the sandbox alone.
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
