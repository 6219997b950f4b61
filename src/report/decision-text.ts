import type { DecisionReport } from '../pipeline/decision-report.js';
import { appendDailyLog } from './daily-log.js';
import { asError } from '../core/errors.js';

/**
 * What a decision on a proposal says to the person: one daily-log line (every decision, with who
 * made it) and, for an approval, the undo command. Pure text; the daily log redacts and strips.
 */

export function undoCommand(id: string): string {
  return `kairos undo ${id}`;
}

function filesPart(files: readonly string[]): string {
  const n = files.length;
  const list = files.slice(0, 5).join(', ') + (n > 5 ? `, … ${n - 5} more` : '');
  return `${n} file${n === 1 ? '' : 's'}${n ? ` (${list})` : ''}`;
}

function summaryPart(r: DecisionReport): string {
  const s = r.approval?.summary.split('\n')[0]?.trim();
  return s ? ` — "${s.length > 80 ? `${s.slice(0, 79)}…` : s}"` : '';
}

/** The daily-log line for a decision: what, which id, who, and what to run next. */
export function decisionLogText(r: DecisionReport): string {
  const tasks = r.taskIds.length ? ` [task${r.taskIds.length === 1 ? '' : 's'} ${r.taskIds.join(', ')}]` : '';
  switch (r.kind) {
    case 'approve':
      return r.by === 'recovery'
        ? `approved ${r.id} (${r.reason ?? 'finished on start'}): ${filesPart(r.files)} applied${summaryPart(r)}; undo: ${undoCommand(r.id)}${tasks}`
        : `approved ${r.id} via ${r.by}: ${filesPart(r.files)} applied${summaryPart(r)}; undo: ${undoCommand(r.id)}${tasks}`;
    case 'fail':
      return `approved ${r.id} via ${r.approval?.decidedBy ?? r.by}, but applying it failed, nothing changed: ${r.reason ?? 'no reason recorded'}${tasks}`;
    case 'deny':
      return `denied ${r.id} via ${r.by}${r.reason ? ` (${r.reason})` : ''}${summaryPart(r)}; discarded, nothing changed${tasks}`;
    case 'expire':
      return `expired ${r.id}: ${r.reason ?? 'nobody decided in time'}${summaryPart(r)}; discarded, nothing changed${tasks}`;
    case 'collapse':
      return `${r.reason ?? 'an identical proposal was made'}: it is the same diff as ${r.id}, which already waits${summaryPart(r)}; no second approval`;
    case 'apply':
      return `applied ${r.id} via ${r.by} (kairos apply): ${filesPart(r.files)}; undo: ${undoCommand(r.id)}${tasks}`;
    case 'undo':
      return `undid ${r.id} via ${r.by}: ${filesPart(r.files)} restored${r.hash ? `; apply again: kairos apply ${r.id} --hash ${r.hash}` : ''}${tasks}`;
  }
}

/** Appends the decision to the day's log; never throws (a decision is recorded in the store whatever happens here). */
export function logDecision(home: string, r: DecisionReport, onError?: (e: Error) => void): void {
  try {
    appendDailyLog(home, { at: r.at, ...(r.repo ? { repo: r.repo } : {}), text: decisionLogText(r) });
  } catch (e) {
    onError?.(asError(e));
  }
}

/** The notification after an approval made somewhere without a screen of its own (the tray): what changed and how to undo it. */
export function appliedNotification(r: DecisionReport): { title: string; body: string } {
  return {
    title: `Kairos applied ${r.id}`,
    body: `${filesPart(r.files)} changed in your tree.\nUndo: ${undoCommand(r.id)}`,
  };
}
