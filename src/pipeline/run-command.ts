import { spawn } from 'node:child_process';
import { BoundedOutput } from '../policy/bounded-output.js';

export interface CommandResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  /** Interleaved stdout and stderr, head and tail kept. */
  output: string;
  /** Set when the command could not be started at all. */
  spawnError?: string;
}

export interface CommandOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Total characters kept (half head, half tail). */
  outputLimit: number;
  /** Grace between SIGTERM and SIGKILL when the time limit is hit. */
  killGraceMs?: number;
  onStart?(pid: number): void;
}

/**
 * Runs a shell command in its own process group so a timeout kills everything it started,
 * not just the shell. Never rejects: failures are values.
 */
export function runCommand(command: string, opts: CommandOptions): Promise<CommandResult> {
  const started = Date.now();
  const out = new BoundedOutput(Math.floor(opts.outputLimit / 2));
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), opts.killGraceMs ?? 5000);
    }, opts.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => out.push(d));
    if (child.pid) opts.onStart?.(child.pid);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ exitCode: null, signal: null, timedOut: false, durationMs: Date.now() - started, output: '', spawnError: err.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      // Reap anything the command left behind in its group (a server started with &).
      killGroup('SIGKILL');
      resolve({ exitCode: code, signal, timedOut, durationMs: Date.now() - started, output: out.toString() });
    });
  });
}
