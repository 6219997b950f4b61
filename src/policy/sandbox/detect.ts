import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { detectLimits, type LimitsStatus } from './limits.js';
import { findExecutable } from './which.js';

/**
 * Which sandbox works on this machine: bubblewrap on Linux, sandbox-exec on macOS, found by
 * running `true` in it, plus the resource-limits backend (src/policy/sandbox/limits.ts).
 *
 * @anthropic-ai/sandbox-runtime (0.0.x, "research preview") was evaluated: it wraps the same
 * bubblewrap/sandbox-exec primitives but its point is an HTTP/SOCKS proxy for per-domain network
 * allow-lists (needing socat and ripgrep on Linux), it has none of the time/output/process limits,
 * and it pulls a second zod (v3) and node-forge. Kairos wants no network at all, which
 * `--unshare-net` gives without a proxy, so the bwrap flags are clearer than the dependency.
 */

export type SandboxBackend = 'bwrap' | 'sandbox-exec';

export interface SandboxStatus {
  backend: SandboxBackend | 'none';
  available: boolean;
  /** What was found, or why nothing works and how to fix it (for `kairos doctor`). */
  detail: string;
  /** The executable that was probed. */
  executable?: string;
  /** How commands are limited (processes, memory, CPU); absent: probed at first use. */
  limits?: LimitsStatus;
}

export const NO_SANDBOX: SandboxStatus = { backend: 'none', available: false, detail: 'not probed' };

export interface DetectOptions {
  platform?: NodeJS.Platform;
  bwrapPath?: string;
  envPath?: string;
  /** Force a limits backend (default: $KAIROS_SANDBOX_LIMITS, else the strongest that works). */
  limits?: string;
}

function detectBox(opts: DetectOptions, platform: NodeJS.Platform): SandboxStatus {
  if (platform === 'linux') {
    const bwrap = opts.bwrapPath ?? findExecutable('bwrap', opts.envPath ?? process.env.PATH ?? '');
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

/** Finds a sandbox that actually works here, and how its commands are limited. */
export function detectSandbox(opts: DetectOptions = {}): SandboxStatus {
  const platform = opts.platform ?? process.platform;
  const box = detectBox(opts, platform);
  if (!box.available) return box;
  const env = opts.envPath !== undefined ? { ...process.env, PATH: opts.envPath } : process.env;
  return { ...box, limits: detectLimits({ platform, env, ...(opts.limits ? { force: opts.limits } : {}) }) };
}
