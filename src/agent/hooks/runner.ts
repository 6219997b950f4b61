import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { BoundedOutput } from '../../policy/bounded-output.js';
import { messageOf } from '../../core/errors.js';

/**
 * Runs one command hook: `/bin/sh -c command` in its own process group, the payload as JSON on
 * stdin, with a time limit that kills the whole group. Never rejects and never throws: a hook
 * that hangs, floods its output, dies by a signal, closes stdin without reading it or cannot be
 * started is a value, so no hook can wedge or crash the agent loop or the daemon.
 */

export const DEFAULT_TIMEOUT_SEC = 60;
/** Per stream; enough for any sensible JSON answer, small enough that a flood costs nothing. */
export const DEFAULT_OUTPUT_LIMIT = 64 * 1024;

export interface RunHookOptions {
  command: string;
  /** The JSON written to stdin. */
  stdin: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Characters kept per stream (head and tail). */
  outputLimit?: number;
  /** Between SIGTERM and SIGKILL after the time limit. */
  killGraceMs?: number;
}

export type HookRunKind = 'ok' | 'block' | 'error' | 'timeout';

export interface HookRunResult {
  /** 'ok' = exit 0, 'block' = exit 2, 'error' = any other exit, a signal or a failure to start, 'timeout' = killed at the limit. */
  kind: HookRunKind;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** True when output beyond the limit was dropped. */
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  durationMs: number;
  /** For 'error' and 'timeout': what happened, in words. */
  message?: string;
}

/** How long to wait for the pipes to close after the shell exited (a background child may hold them). */
const DRAIN_MS = 1000;

export function runHookCommand(opts: RunHookOptions): Promise<HookRunResult> {
  const started = Date.now();
  const limit = Math.max(2, opts.outputLimit ?? DEFAULT_OUTPUT_LIMIT);
  const stdout = new BoundedOutput(Math.floor(limit / 2));
  const stderr = new BoundedOutput(Math.floor(limit / 2));
  const grace = opts.killGraceMs ?? 500;

  return new Promise((resolve) => {
    let done = false;
    let timedOut = false;
    let exited = false;
    const timers: NodeJS.Timeout[] = [];
    const later = (ms: number, fn: () => void): void => {
      timers.push(setTimeout(fn, ms));
    };

    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn('/bin/sh', ['-c', opts.command], {
        cwd: opts.cwd,
        env: opts.env,
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (e) {
      resolve(result('error', null, null, `could not start: ${messageOf(e)}`));
      return;
    }

    const killGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };

    function result(kind: HookRunKind, exitCode: number | null, signal: string | null, message?: string): HookRunResult {
      return {
        kind,
        exitCode,
        signal,
        stdout: stdout.toString(),
        stderr: stderr.toString(),
        stdoutTruncated: stdout.omittedBytes > 0,
        stderrTruncated: stderr.omittedBytes > 0,
        durationMs: Date.now() - started,
        ...(message !== undefined ? { message } : {}),
      };
    }

    const finish = (r: HookRunResult): void => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      // Reap what the hook left behind in its group (a `sleep 100 &`), and stop listening to pipes it may hold.
      killGroup('SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
      child.stdin.destroy();
      resolve(r);
    };

    const settle = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (timedOut) {
        finish(result('timeout', code, signal, `did not finish within ${formatSeconds(opts.timeoutMs)} and was killed`));
      } else if (signal) {
        finish(result('error', code, signal, `was killed by ${signal}`));
      } else if (code === 0) {
        finish(result('ok', 0, null));
      } else if (code === 2) {
        finish(result('block', 2, null));
      } else {
        finish(result('error', code, null, `exited with code ${code}`));
      }
    };

    child.stdout.setEncoding('utf8').on('data', (d: string) => stdout.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
    child.stdout.on('error', () => {});
    child.stderr.on('error', () => {});
    // A hook that exits (or closes stdin) without reading its input makes the write fail with EPIPE: not our problem.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.stdin);

    child.on('error', (err) => finish(result('error', null, null, `could not start: ${err.message}`)));
    child.on('exit', (code, signal) => {
      exited = true;
      // 'close' normally follows within milliseconds; if a background child holds the pipes open, stop waiting.
      later(DRAIN_MS, () => settle(code, signal));
    });
    child.on('close', (code, signal) => settle(code, signal));

    later(opts.timeoutMs, () => {
      if (exited) return; // finished in time; only its pipes are late
      timedOut = true;
      killGroup('SIGTERM');
      later(grace, () => killGroup('SIGKILL'));
      // If even SIGKILL leaves the pipes open (a grandchild that left the group), give up on them.
      later(grace + DRAIN_MS, () => finish(result('timeout', null, null, `did not finish within ${formatSeconds(opts.timeoutMs)} and was killed`)));
    });
  });
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
