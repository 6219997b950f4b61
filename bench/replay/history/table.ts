import { formatUsd } from '../../../src/model/prices.js';
import { totals, type DayStats } from './observe.js';

/** The per-day table of a replay, with a totals row, the verdicts by reason, and the two goals. */

const pct = (n: number, d: number): string => (d ? `${((100 * n) / d).toFixed(0)}%` : '-');
const ratio = (n: number, d: number): string => (d ? (n / d).toFixed(2) : '-');

export function precision(s: DayStats): number | undefined {
  return s.actDecisions ? (s.actDecisions - s.actDecisionsUnlabelled) / s.actDecisions : undefined;
}
export function recall(s: DayStats): number | undefined {
  return s.tp + s.fn ? s.tp / (s.tp + s.fn) : undefined;
}

export function formatTable(days: readonly DayStats[]): string {
  const t = totals(days);
  const head = ['day', 'commits', 'act', 'events', 'batches', 'no model', 'triage', 'agent', 'dollars', 'seen', 'prec', 'recall', 'late', 'parked'];
  const row = (s: DayStats): string[] => [
    s.date,
    String(s.commits),
    String(s.labelledAct),
    String(s.events),
    String(s.batches),
    `${s.batchesWithoutModel} (${pct(s.batchesWithoutModel, s.batches)})`,
    String(s.triageCalls),
    String(s.agentTasks),
    formatUsd(s.spentMicro),
    String(s.commitsSeenByModel),
    s.actDecisions ? ratio(s.actDecisions - s.actDecisionsUnlabelled, s.actDecisions) : '-',
    s.tp + s.fn ? `${ratio(s.tp, s.tp + s.fn)} (${s.tp}/${s.tp + s.fn})` : '-',
    String(s.late),
    String(s.leftParked || s.batchesUndecided ? `${s.leftParked}/${s.batchesUndecided}` : 0),
  ];
  const rows = [head, ...days.map(row), row(t)];
  const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [line(head), ...days.map((d) => line(row(d))), '-'.repeat(widths.reduce((a, w) => a + w + 2, -2)), line(row(t))];
  out.push('', 'verdicts (every decision row, by stage/outcome and heuristic reason):');
  for (const [k, v] of Object.entries(t.verdicts).sort((a, b) => b[1] - a[1])) out.push(`  ${String(v).padStart(5)}  ${k}`);
  return out.join('\n');
}

export const COLUMNS = [
  'columns: commits replayed; act = commits labelled "act"; events = user events stored; batches = settled',
  '  batches handed to the decision stage; no model = batches whose final decision made no model call;',
  '  triage = triage requests; agent = agent tasks started; dollars = the daemon\'s spend ledger',
  '  (kairos spend --json); seen = commits a model was asked about; prec = act decisions about an',
  '  act-labelled commit; recall = act-labelled commits reached by an act decision; late = of those,',
  '  reached only after their repairing commit had landed; parked = items',
  '  left parked/queued when the day was closed / batches never finally decided.',
].join('\n');

export interface Goals {
  /** Batches whose final decision made no model call. */
  withoutModel: number;
  /** 1 − triage calls / batches: one look at a merged item ends all its batches with one call. */
  byCalls: number;
  recall: number | undefined;
  /** Recall counting only acts decided before the repairing commit landed. */
  recallInTime: number | undefined;
}

/** The goals of issue 13: ≥ 90 % of batches without a model call, recall ≥ 0.8. */
export function goals(days: readonly DayStats[]): Goals {
  const t = totals(days);
  return {
    withoutModel: t.batches ? t.batchesWithoutModel / t.batches : 1,
    byCalls: t.batches ? Math.max(0, 1 - t.triageCalls / t.batches) : 1,
    recall: recall(t),
    recallInTime: t.tp + t.fn ? (t.tp - t.late) / (t.tp + t.fn) : undefined,
  };
}

export function formatGoals(g: Goals): string {
  const p = (x: number) => `${(x * 100).toFixed(1)}%`;
  const ok = (x: number | undefined, min: number) => (x === undefined ? '' : x >= min ? 'met' : 'MISSED');
  return [
    'goal: >= 90% of batches end without a model call',
    `  strict, the batch's final decision made no model call: ${p(g.withoutModel)} ${ok(g.withoutModel, 0.9)}`,
    `  by calls, 1 - triage calls / batches (one look at merged work ends all its batches): ${p(g.byCalls)} ${ok(g.byCalls, 0.9)}`,
    g.recall === undefined
      ? 'goal: labelled "act" moments reached with recall >= 0.8: no act labels in the window'
      : `goal: labelled "act" moments reached with recall >= 0.8: ${g.recall.toFixed(2)} ${ok(g.recall, 0.8)}; in time (before the repair landed): ${g.recallInTime!.toFixed(2)} ${ok(g.recallInTime, 0.8)}`,
  ].join('\n');
}
