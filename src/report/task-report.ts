import path from 'node:path';
import type { Trigger } from '../policy/schema.js';
import type { TaskRow } from '../store/task-store.js';

export interface TaskReport {
  /** Present when the trigger's `notify` mode says this result is worth interrupting for. */
  notification?: { title: string; body: string; urgency: 'low' | 'normal' | 'critical' };
  /** One daily-log bullet. */
  log: string;
}

/** Decides what a finished task tells the user, by the trigger's `notify` mode. */
export function reportTask(task: TaskRow, trigger: Pick<Trigger, 'notify'> | undefined, previous: TaskRow | undefined): TaskReport {
  const repoName = path.basename(task.repo);
  const ok = task.state === 'done';
  const outcome = ok
    ? 'passed'
    : task.reason
      ? `failed (${task.reason})`
      : `failed with exit code ${task.exit_code ?? 'none'}${task.signal ? ` (${task.signal})` : ''}`;
  const secs = task.duration_ms != null ? ` in ${(task.duration_ms / 1000).toFixed(1)} s` : '';
  const what =
    task.kind === 'notify' ? 'changes settled'
    : task.kind === 'agent' ? (task.state === 'proposed' ? `proposed: ${task.reason ?? ''}` : `agent ${task.state === 'done' ? 'finished' : 'failed'}${task.reason ? `: ${task.reason}` : ''}`)
    : task.command ? `\`${task.command}\` ${outcome}${secs}` : outcome;
  const log = `${repoName} · ${task.trigger} (task ${task.id}): ${what}`;

  // A proposal is announced on its own, with Approve / Deny / Show actions (see dbus-notify.ts).
  if (task.state === 'proposed') return { log };
  const mode = trigger?.notify ?? 'on_failure';
  const changed = !previous || previous.state !== task.state;
  const wanted = mode === 'always' || (mode === 'on_failure' && !ok) || (mode === 'on_change' && changed);
  if (!wanted) return { log };
  const lastLine = lastMeaningfulLine(task.output ?? '');
  return {
    log,
    notification: {
      title: `${repoName}: ${task.trigger} ${ok ? (task.kind === 'notify' ? 'fired' : 'passed') : 'failed'}`,
      body: task.kind === 'notify' ? firstLines(task.output ?? '', 3) : lastLine ? `${what}\n${lastLine}` : what,
      urgency: ok ? 'low' : 'normal',
    },
  };
}

function lastMeaningfulLine(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.at(-1)?.slice(0, 160) ?? '';
}

function firstLines(text: string, n: number): string {
  return text.split('\n').slice(0, n).join('\n');
}
