import { spawnSync } from 'node:child_process';
import { findCgroup1, findCgroup2, RunGroup, sweepStaleGroups, joinArgv, type CgroupLayout } from './cgroup.js';
import type { SandboxLimits } from './limits-config.js';
import { formatBytes } from './size.js';
import { findExecutable } from './which.js';

/**
 * Resource limits for sandboxed commands, by the strongest means this machine offers:
 *
 *   cgroup2      a group per command under the daemon's own (processes, memory; holds for root)
 *   cgroup1      the same with the v1 pids and memory controllers
 *   systemd-run  a transient user scope (TasksMax, MemoryMax) through the user's systemd
 *   prlimit      rlimits only: RLIMIT_NPROC (which the kernel does not apply to root), RLIMIT_AS
 *
 * CPU time is RLIMIT_CPU (prlimit inside the sandbox) with every backend: a group can slow a busy
 * process down but not stop it. The wall-clock time limit and the pid namespace (every process of
 * the command dies with it) hold in all cases. KAIROS_SANDBOX_LIMITS=<backend> forces one, e.g. to
 * test the fallback.
 */

export type LimitsBackend = 'cgroup2' | 'cgroup1' | 'systemd-run' | 'prlimit' | 'ulimit' | 'none';
export const LIMITS_BACKENDS: readonly LimitsBackend[] = ['cgroup2', 'cgroup1', 'systemd-run', 'prlimit', 'ulimit', 'none'];

export interface LimitsStatus {
  backend: LimitsBackend;
  /** What is used and how strong it is, or what is missing (for `kairos doctor`). */
  detail: string;
  cgroup?: CgroupLayout;
  /** prlimit, for CPU time (all Linux backends) and the rlimits of the fallback. */
  prlimit?: string;
  systemdRun?: string;
}

export interface DetectLimitsOptions {
  platform?: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
  procDir?: string;
  /** Use this backend when it works (default: $KAIROS_SANDBOX_LIMITS, else the strongest). */
  force?: string;
}

function systemdUserScopeWorks(exe: string, env: NodeJS.ProcessEnv): boolean {
  if (!env.XDG_RUNTIME_DIR && !env.DBUS_SESSION_BUS_ADDRESS) return false;
  const r = spawnSync(exe, ['--user', '--scope', '--quiet', '--collect', '-p', 'TasksMax=16', '-p', 'MemoryMax=64M', '--', '/bin/true'], { env, timeout: 10_000, stdio: 'ignore' });
  return r.status === 0;
}

/** Finds the limits backend, and sweeps groups a killed daemon left behind. */
export function detectLimits(o: DetectLimitsOptions = {}): LimitsStatus {
  const platform = o.platform ?? process.platform;
  const env = o.env ?? process.env;
  if (platform === 'darwin') return { backend: 'ulimit', detail: 'ulimit: CPU time only (macOS has no process or memory limit that holds); the time limit stops the rest' };
  if (platform !== 'linux') return { backend: 'none', detail: `no resource limits on ${platform}` };
  const wanted = o.force ?? env.KAIROS_SANDBOX_LIMITS;
  const notes: string[] = [];
  const known = LIMITS_BACKENDS.some((b) => b === wanted);
  if (wanted && !known) notes.push(`KAIROS_SANDBOX_LIMITS=${wanted} is not one of ${LIMITS_BACKENDS.join(', ')}: ignored`);
  const want = (b: LimitsBackend): boolean => !wanted || wanted === b || !known;
  const prlimit = findExecutable('prlimit', env.PATH ?? '');
  const cpu = prlimit ? 'CPU time by prlimit' : 'no CPU time limit (prlimit, from util-linux, is missing)';
  // Why a stronger backend was not used is worth saying only when a weaker one is.
  const with_ = (s: Omit<LimitsStatus, 'prlimit'>): LimitsStatus => {
    const said = s.backend === 'prlimit' ? notes : notes.filter((n) => n.startsWith('KAIROS_SANDBOX_LIMITS'));
    return { ...s, ...(prlimit ? { prlimit } : {}), detail: [s.detail, ...said].join('; ') };
  };

  if (want('cgroup2')) {
    const v2 = findCgroup2(o.procDir);
    if (v2.layout) {
      sweepStaleGroups(v2.layout);
      return with_({ backend: 'cgroup2', cgroup: v2.layout, detail: `${v2.why}: processes and memory hold for root too; ${cpu}` });
    }
    notes.push(v2.why);
  }
  if (want('cgroup1')) {
    const v1 = findCgroup1(o.procDir);
    if (v1.layout) {
      sweepStaleGroups(v1.layout);
      return with_({ backend: 'cgroup1', cgroup: v1.layout, detail: `${v1.why}: processes and memory hold for root too; ${cpu}` });
    }
    notes.push(v1.why);
  }
  if (want('systemd-run')) {
    const exe = findExecutable('systemd-run', env.PATH ?? '');
    if (exe && systemdUserScopeWorks(exe, env)) return with_({ backend: 'systemd-run', systemdRun: exe, detail: `systemd-run --user --scope (TasksMax, MemoryMax); ${cpu}` });
    notes.push(exe ? 'no systemd user manager to run a scope in' : 'systemd-run is not installed');
  }
  if (prlimit && want('prlimit')) {
    const root = process.getuid?.() === 0;
    return with_({
      backend: 'prlimit',
      detail: `prlimit: RLIMIT_NPROC, RLIMIT_AS and RLIMIT_CPU per process${root ? '; as root the kernel ignores RLIMIT_NPROC, so a watchdog counts processes (a fast fork bomb can overshoot before it is stopped)' : ''}`,
    });
  }
  return { backend: 'none', detail: ['no resource limits: no writable cgroup, no systemd user manager and no prlimit (install util-linux)', ...notes].join('; ') };
}

/** How one command is limited: what wraps it outside and inside the sandbox, and what it hit. */
export interface LimitsRun {
  /** Wraps the sandbox's argv (joins the group, or runs it in a systemd scope). */
  wrap(argv: readonly string[]): string[];
  /** Put inside the sandbox, before the command (prlimit ... --). */
  inner: string[];
  /** Variables the wrapper needs and the command must not get (bwrap drops them). */
  wrapperEnv: Record<string, string>;
  /** Which limits were hit, read before the group is removed. */
  hits(): { processes: boolean; memory: boolean; peakProcesses?: number };
  /** Whether hits() sees a fork refused as it happens (a group); else the runner counts processes. */
  countsForks: boolean;
  dispose(): Promise<void>;
}

export function prepareLimits(status: LimitsStatus, limits: SandboxLimits): LimitsRun {
  const cpu = `--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + 5}`;
  const nothing = { hits: () => ({ processes: false, memory: false }), dispose: async () => {} };
  switch (status.backend) {
    case 'cgroup2':
    case 'cgroup1': {
      const group = RunGroup.create(status.cgroup!, limits);
      return {
        wrap: (argv) => joinArgv(group.procsFiles, argv),
        inner: status.prlimit ? [status.prlimit, cpu, '--'] : [],
        wrapperEnv: {},
        hits: () => {
          const peak = group.peakProcesses();
          return { processes: group.processLimitHits() > 0, memory: group.oomKills() > 0, ...(peak !== undefined ? { peakProcesses: peak } : {}) };
        },
        countsForks: true,
        dispose: () => group.remove(),
      };
    }
    case 'systemd-run': {
      const wrapperEnv: Record<string, string> = {};
      for (const k of ['XDG_RUNTIME_DIR', 'DBUS_SESSION_BUS_ADDRESS']) if (process.env[k]) wrapperEnv[k] = process.env[k]!;
      return {
        wrap: (argv) => [status.systemdRun!, '--user', '--scope', '--quiet', '--collect', '-p', `TasksMax=${limits.processes}`, '-p', `MemoryMax=${limits.memoryBytes}`, '-p', 'MemorySwapMax=0', '--', ...argv],
        inner: status.prlimit ? [status.prlimit, cpu, '--'] : [],
        wrapperEnv,
        countsForks: false,
        ...nothing,
      };
    }
    case 'prlimit':
      return {
        wrap: (argv) => [...argv],
        inner: [status.prlimit!, cpu, `--as=${limits.memoryBytes}:${limits.memoryBytes}`, `--nproc=${limits.processes}:${limits.processes}`, '--'],
        wrapperEnv: {},
        countsForks: false,
        ...nothing,
      };
    case 'ulimit':
      return {
        wrap: (argv) => [...argv],
        inner: ['/bin/sh', '-c', `ulimit -t ${limits.cpuSeconds} 2>/dev/null; exec "$@"`, 'kairos-limits'],
        wrapperEnv: {},
        countsForks: false,
        ...nothing,
      };
    default:
      return { wrap: (argv) => [...argv], inner: [], wrapperEnv: {}, countsForks: false, ...nothing };
  }
}

/** "1024 processes, 2 GiB memory, 300 s CPU time per process": for explanations. */
export function describeLimits(l: SandboxLimits): string {
  return `${l.processes} processes, ${formatBytes(l.memoryBytes)} memory, ${l.cpuSeconds} s CPU time per process`;
}
