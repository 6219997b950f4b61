import path from 'node:path';
import type { Trigger } from '../policy/schema.js';
import type { TaskRow } from '../store/task-store.js';
import { isNoise, summariseFailure, type FailureSummary } from './failure-summary.js';
import { BODY_MAX } from './notify.js';
import { stripTerminalEscapes } from './terminal-text.js';

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
  // A failed command's most telling lines (the failing assertion, the compiler error), not its last line.
  const failure = !ok && task.kind === 'command' && task.output ? summariseFailure(task.output, { cwd: task.repo, maxChars: BODY_MAX }) : undefined;
  const telling = failure?.tool ? failure.lines[0] : undefined;
  const log = `${repoName} · ${task.trigger} (task ${task.id}): ${what}${telling ? ` — ${telling}` : ''}`;

  // A proposal is announced on its own, with Approve / Deny / Show actions (see dbus-notify.ts).
  if (task.state === 'proposed') return { log };
  const rerun = rerunOf(task);
  if (rerun) return rerunReport(task, repoName, rerun, ok, secs, failure);
  const mode = trigger?.notify ?? 'on_failure';
  const changed = !previous || previous.state !== task.state;
  const wanted = mode === 'always' || (mode === 'on_failure' && !ok) || (mode === 'on_change' && changed);
  if (!wanted) return { log };
  return {
    log,
    notification: {
      title: `${repoName}: ${task.trigger} ${ok ? (task.kind === 'notify' ? 'fired' : 'passed') : 'failed'}`,
      body: task.kind === 'notify' ? firstLines(task.output ?? '', 3) : failureBody(what, failure) ?? withLastLine(what, task.output ?? ''),
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
    // tasks.data the store wrote itself; unparsable means no rerun link, and the report still shows the task.
    return null;
  }
}

/** A re-run after an applied fix is always worth a notification: it closes the loop the fix opened. */
function rerunReport(task: TaskRow, repoName: string, id: string, ok: boolean, secs: string, failure: FailureSummary | undefined): TaskReport {
  const cmd = task.command ? `\`${task.command}\`` : task.trigger;
  // What still fails: the failing assertion or error when recognised, else the last line that is not a runner's footer.
  const lastLine = failure?.lines.length ? failure.lines.slice(0, 3).join('\n') : withLastLine('', task.output ?? '').trim();
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

/**
 * A recognised report speaks for itself (the title already says what failed); the tail of an
 * unrecognised one follows the command and its exit code, which then say more than it does.
 */
function failureBody(what: string, failure: FailureSummary | undefined): string | undefined {
  if (!failure?.lines.length) return undefined;
  if (failure.tool) return failure.lines.join('\n');
  const room = BODY_MAX - what.length - 1;
  const tail: string[] = [];
  for (const l of [...failure.lines].reverse()) {
    if (tail.join('\n').length + l.length + 1 > room) break;
    tail.unshift(l);
  }
  return [what, ...tail].join('\n');
}

/** The last line that is not a runner's footer or counter (never `# duration_ms 211.0`). */
function withLastLine(what: string, output: string): string {
  const last = output.split('\n').filter((l) => !isNoise(stripTerminalEscapes(l))).at(-1)?.trim().slice(0, 160);
  return last ? `${what}\n${stripTerminalEscapes(last)}` : what;
}

function firstLines(text: string, n: number): string {
  return text.split('\n').slice(0, n).join('\n');
}
