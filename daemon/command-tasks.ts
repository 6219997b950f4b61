import { executeTask } from '../src/pipeline/execute.js';
import type { Execution } from '../src/pipeline/runner.js';
import { parseDuration } from '../src/policy/duration.js';
import type { Policy, Trigger } from '../src/policy/schema.js';
import type { Logger } from '../src/report/logger.js';
import type { TaskRow, TaskStore } from '../src/store/task-store.js';
import { isAlive, processStartTime } from '../src/cli/process-alive.js';
import type { Evaluation } from '../src/policy/layers.js';
import { isErrno, messageOf } from '../src/core/errors.js';

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_OUTPUT_LIMIT = 64_000;

/**
 * Rule commands as the daemon runs them: each in its own process group, its pid recorded so that
 * after a crash the restarted daemon can stop a command its predecessor left running.
 */
export class CommandTasks {
  private readonly running = new Set<number>();

  constructor(
    private readonly d: {
      tasks: TaskStore;
      env: NodeJS.ProcessEnv;
      log: Logger;
      /** The policy layers for the command, right before it runs (trust re-read now); audited. */
      check(task: TaskRow, command: string): Evaluation;
    },
  ) {}

  run(task: TaskRow, trigger: Trigger, policy: Policy, paths: readonly string[]): Promise<Execution> {
    if (task.kind === 'command' && task.command) {
      const ev = this.d.check(task, task.command);
      if (ev.verdict.decision !== 'allow') {
        const reason = `not run: the ${ev.decidedBy} layer: ${ev.verdict.reason ?? ev.verdict.decision}`;
        this.d.log.warn({ task: task.id, trigger: task.trigger, reason }, 'trigger command refused');
        this.d.tasks.patchData(task.id, { refused_by: ev.decidedBy ?? null });
        return Promise.resolve({ state: 'failed', reason });
      }
    }
    const defaults = policy.defaults;
    let pid: number | undefined;
    return executeTask(task, {
      trigger,
      paths,
      timeoutMs: parseDuration(trigger.timeout ?? defaults?.timeout ?? DEFAULT_TIMEOUT_MS),
      outputLimit: defaults?.output_limit_bytes ?? DEFAULT_OUTPUT_LIMIT,
      env: this.d.env,
      onStart: (p) => {
        pid = p;
        this.running.add(p);
        this.d.tasks.patchData(task.id, { pid: p, pid_start: processStartTime(p) });
      },
    }).finally(() => pid !== undefined && this.running.delete(pid));
  }

  /** At shutdown, after the grace period: what is still running is stopped (and recorded as interrupted). */
  stopAll(): void {
    for (const pid of this.running) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch (e) {
        // ESRCH: the group is gone already. Anything else (EPERM: no longer ours) is said, not dropped.
        if (!isErrno(e, 'ESRCH')) this.d.log.warn({ pid, err: messageOf(e) }, 'could not stop a running command');
      }
    }
  }

  /** A command whose daemon was killed keeps running in its own process group; stop it if it is still that process. */
  stopOrphaned(t: TaskRow): void {
    const { pid, pid_start } = t.data;
    if (!pid || !isAlive(pid) || processStartTime(pid) !== pid_start) return;
    try {
      process.kill(-pid, 'SIGTERM');
      this.d.log.warn({ task: t.id, pid }, 'stopped the command an interrupted task left running');
    } catch (e) {
      // ESRCH: already gone. Anything else (EPERM) is said, not dropped.
      if (!isErrno(e, 'ESRCH')) this.d.log.warn({ task: t.id, pid, err: messageOf(e) }, 'could not stop the command an interrupted task left running');
    }
  }
}
