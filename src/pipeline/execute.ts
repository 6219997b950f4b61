import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Trigger } from '../policy/schema.js';
import type { TaskRow } from '../store/task-store.js';
import { runCommand } from './run-command.js';
import type { Execution } from './runner.js';

export interface ExecuteContext {
  trigger: Trigger | undefined;
  paths: readonly string[];
  timeoutMs: number;
  outputLimit: number;
  env: NodeJS.ProcessEnv;
  onStart?: (pid: number) => void;
}

/**
 * The act stage for rule tasks. A command task runs its trigger's `run` in the repository with the
 * changed paths handed over in a file (a 10,000-path checkout would overflow an environment variable).
 */
export async function executeTask(task: TaskRow, ctx: ExecuteContext): Promise<Execution> {
  if (task.kind === 'notify') {
    return { state: 'done', output: summarisePaths(ctx.paths) };
  }
  if (task.kind !== 'command' || !task.command) {
    return { state: 'failed', reason: `task kind '${task.kind}' cannot run here` };
  }
  const listFile = path.join(os.tmpdir(), `kairos-task-${task.id}-${process.pid}.paths`);
  fs.writeFileSync(listFile, ctx.paths.join('\n'));
  try {
    const r = await runCommand(task.command, {
      cwd: task.repo,
      timeoutMs: ctx.timeoutMs,
      outputLimit: ctx.outputLimit,
      env: {
        ...ctx.env,
        KAIROS_TASK_ID: String(task.id),
        KAIROS_TRIGGER: task.trigger,
        KAIROS_REPO: task.repo,
        KAIROS_CHANGED_FILES: listFile,
      },
      ...(ctx.onStart ? { onStart: ctx.onStart } : {}),
    });
    if (r.spawnError) return { state: 'failed', reason: `could not start: ${r.spawnError}`, duration_ms: r.durationMs, output: '' };
    const ok = r.exitCode === 0 && !r.timedOut;
    return {
      state: ok ? 'done' : 'failed',
      exit_code: r.exitCode,
      signal: r.signal,
      duration_ms: r.durationMs,
      output: r.output,
      ...(r.timedOut ? { reason: `timed out after ${ctx.timeoutMs} ms` } : {}),
    };
  } finally {
    fs.rmSync(listFile, { force: true });
  }
}

function summarisePaths(paths: readonly string[]): string {
  if (paths.length === 0) return 'no file changes';
  const shown = paths.slice(0, 20).join('\n');
  return paths.length > 20 ? `${shown}\n… and ${paths.length - 20} more` : shown;
}
