import { parseDuration } from '../duration.js';
import type { SandboxSettings } from '../schema.js';
import { parseMemorySize } from './size.js';

/**
 * What every sandboxed command gets when the policy says nothing. The process limit counts threads
 * too (pids.max and RLIMIT_NPROC do): a test runner on a many-core machine starts a node per core
 * with ~10 threads each, so 1024 leaves room for that while a fork bomb still stops far below the
 * host's process table (32,768 or more).
 */
export const SANDBOX_LIMIT_DEFAULTS = { processes: 1024, memoryBytes: 2 * 1024 ** 3 } as const;

/** The limits one command runs under. */
export interface SandboxLimits {
  /** Processes and threads at once (pids.max / TasksMax / RLIMIT_NPROC). */
  processes: number;
  /** Memory (memory.max / MemoryMax; RLIMIT_AS under the prlimit fallback). */
  memoryBytes: number;
  /** CPU seconds per process (RLIMIT_CPU): SIGXCPU at this, SIGKILL a little later. */
  cpuSeconds: number;
}

/**
 * The policy's `sandbox.limits` with the defaults filled in. CPU time defaults to the command's
 * time limit: a single busy process cannot use more CPU than it has wall time anyway, and a lower
 * setting stops a runaway loop well before the wall clock does.
 */
export function resolveLimits(settings: SandboxSettings | undefined, timeoutMs: number): SandboxLimits {
  const l = settings?.limits ?? {};
  const cpuMs = l.cpu !== undefined ? parseDuration(l.cpu) : timeoutMs;
  return {
    processes: l.processes ?? SANDBOX_LIMIT_DEFAULTS.processes,
    memoryBytes: (l.memory !== undefined ? parseMemorySize(l.memory) : undefined) ?? SANDBOX_LIMIT_DEFAULTS.memoryBytes,
    cpuSeconds: Math.max(1, Math.ceil(cpuMs / 1000)),
  };
}
