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
  const rerun = rerunOf(task);
  if (rerun) return rerunReport(task, repoName, rerun, ok, secs);
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

/** The approval whose applied fix this task re-checks (`after_apply: rerun`), if it is such a run. */
function rerunOf(task: TaskRow): string | null {
  try {
    const id = (JSON.parse(task.data) as { after_apply?: unknown }).after_apply;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

/** A re-run after an applied fix is always worth a notification: it closes the loop the fix opened. */
function rerunReport(task: TaskRow, repoName: string, id: string, ok: boolean, secs: string): TaskReport {
  const cmd = task.command ? `\`${task.command}\`` : task.trigger;
  const lastLine = lastMeaningfulLine(task.output ?? '');
  const result = ok ? `passes now${secs}` : `still fails${task.exit_code != null ? ` (exit code ${task.exit_code})` : task.reason ? ` (${task.reason})` : ''}`;
  return {
    log: `${repoName} · ${task.trigger} (task ${task.id}): ${cmd} re-run after applying ${id}: ${result}`,
    notification: {
      title: `${repoName}: ${task.trigger} ${ok ? 'passes now' : 'still failing'}`,
      body: ok ? `${cmd} passes after applying ${id}.` : `${cmd} still fails after applying ${id}.${lastLine ? `\n${lastLine}` : ''}\nUndo: kairos undo ${id}`,
      urgency: 'normal',
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
