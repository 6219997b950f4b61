/**
 * Replays a real repository's history, day by day, through the real daemon and its decision stage,
 * against the fake Messages API whose triage answers come from a stated labelling rule; prints per
 * simulated day what the daemon did and how it scored (bench/replay/history/*).
 *
 *   node dist/bench/replay/history.js --repo PATH [--since DATE --until DATE] [--rev REV] [--days N]
 *        [--speed N] [--min-gap-ms N] [--max-gap-ms N] [--lookahead N] [--within-hours N] [--warmup-days N]
 *        [--keep] [--json FILE]
 *
 * Not part of `npm run bench`: it needs a repository with a history (e.g. the mirrors under
 * /work/.mirror) and takes minutes per simulated day. See bench/README.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { readHistory, readWarmup } from './history/commits.js';
import { DEFAULT_LABEL_RULE, describeRule } from './history/labels.js';
import { replayHistory, type ReplayOutcome } from './history/replay.js';
import { COLUMNS, formatGoals, formatTable, goals } from './history/table.js';
import { totals } from './history/observe.js';

export class UsageError extends Error {}

export interface HistoryArgs {
  repo: string;
  since?: string | undefined;
  until?: string | undefined;
  rev?: string | undefined;
  days?: number | undefined;
  speed: number;
  minGapMs: number;
  maxGapMs: number;
  lookahead: number;
  withinH: number;
  /** Active days before --since replayed first, unscored, so the daemon starts as a running one would. */
  warmupDays: number;
  keep: boolean;
  json?: string | undefined;
}

function positive(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} ${v}: expected a positive number, e.g. --${name} ${fallback}`);
  return n;
}

/** Default: the three active days before the window (bench/README.md, "Warm-up"); 0 turns it off; none without --since. */
export const DEFAULT_WARMUP_DAYS = 3;

function warmupDays(v: string | undefined): number {
  if (v === undefined) return DEFAULT_WARMUP_DAYS;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--warmup-days ${v}: expected a whole number of days, 0 or more, e.g. --warmup-days ${DEFAULT_WARMUP_DAYS}`);
  return n;
}

export function parseHistoryArgs(argv: readonly string[]): HistoryArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        repo: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        rev: { type: 'string' },
        days: { type: 'string' },
        speed: { type: 'string' },
        'min-gap-ms': { type: 'string' },
        'max-gap-ms': { type: 'string' },
        lookahead: { type: 'string' },
        'within-hours': { type: 'string' },
        'warmup-days': { type: 'string' },
        keep: { type: 'boolean' },
        json: { type: 'string' },
      },
      strict: true,
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message} — see the usage at the top of bench/replay/history.ts`);
  }
  const repo = values.repo as string | undefined;
  if (!repo) throw new UsageError('--repo PATH is required: the repository (or bare mirror) whose history is replayed');
  const resolved = path.resolve(repo);
  if (!fs.existsSync(resolved)) throw new UsageError(`--repo ${repo}: no such directory`);
  const str = (k: string) => values[k] as string | undefined;
  return {
    repo: resolved,
    since: str('since'),
    until: str('until'),
    rev: str('rev'),
    days: str('days') === undefined ? undefined : Math.floor(positive('days', str('days'), 1)),
    speed: positive('speed', str('speed'), 240),
    minGapMs: positive('min-gap-ms', str('min-gap-ms'), 200),
    maxGapMs: positive('max-gap-ms', str('max-gap-ms'), 8000),
    lookahead: Math.floor(positive('lookahead', str('lookahead'), DEFAULT_LABEL_RULE.lookahead)),
    withinH: positive('within-hours', str('within-hours'), DEFAULT_LABEL_RULE.withinH),
    warmupDays: warmupDays(str('warmup-days')),
    keep: values.keep === true,
    json: str('json'),
  };
}

export function describeOutcome(a: HistoryArgs, r: ReplayOutcome): string {
  const scored = r.days.filter((d) => !d.warmup);
  const warm = r.days.filter((d) => d.warmup);
  const out = [formatTable(scored), '', COLUMNS, '', formatGoals(goals(scored))];
  if (warm.length) {
    const w = totals(warm);
    out.push(`warm-up before the window (not scored above): ${warm.map((d) => d.date).join(', ')}: ${w.commits} commits, ${w.batches} batches, ${w.triageCalls} triage calls, ${w.agentTasks} agent tasks`);
  }
  if (r.treeMismatches.length) out.push(`WARNING: ${r.treeMismatches.length} replayed commits differ from the original tree: ${r.treeMismatches.map((s) => s.slice(0, 10)).join(', ')}`);
  const warmIndexes = new Set(r.days.flatMap((d, i) => (d.warmup ? [i] : [])));
  const acts = r.commits.filter((c) => c.act && !warmIndexes.has(c.day));
  if (acts.length) {
    out.push('', 'act-labelled commits (reached in time, late, or missed):');
    // Days are numbered within the window (the warm-up days come first in r.days).
    for (const c of acts) out.push(`  ${c.sha.slice(0, 10)} day ${c.day + 1 - warmIndexes.size} ${(c.reach ?? '').padEnd(7)}  ${c.label.why}`);
  }
  void a;
  return out.join('\n');
}

export async function main(argv = process.argv.slice(2)): Promise<ReplayOutcome> {
  const a = parseHistoryArgs(argv);
  const window = readHistory(a.repo, { since: a.since, until: a.until, rev: a.rev, days: a.days });
  const warmup = readWarmup(a.repo, { since: a.since, rev: a.rev }, a.warmupDays);
  const days = [...warmup, ...window];
  const commits = window.reduce((n, d) => n + d.commits.length, 0);
  const rule = { lookahead: a.lookahead, withinH: a.withinH };
  const print = (s: string) => process.stdout.write(`${s}\n`);
  print(`replay ${a.repo} ${a.rev ?? 'HEAD'} ${a.since ?? '(start)'} .. ${a.until ?? '(end)'}: ${window.length} days, ${commits} commits (first-parent)`);
  if (warmup.length) print(`warm-up first, not scored: ${warmup.map((d) => `${d.date} (${d.commits.length} commits)`).join(', ')} — the daemon starts the window as one that was already running would`);
  print(describeRule(rule));
  print(
    `time: ${a.speed}x (a gap of ${a.speed} s takes 1 s, bounded to ${a.minGapMs}..${a.maxGapMs} ms); away_after 15m becomes ${((15 * 60_000) / a.speed / 1000).toFixed(2)} s, triage.look_every 10m ${((10 * 60_000) / a.speed / 1000).toFixed(2)} s; ` +
      'the daemon: no triggers, triage claude-haiku-4-5, act claude-sonnet-4-6, dream off',
  );
  const r = await replayHistory({ source: a.repo, days, speed: a.speed, minGapMs: a.minGapMs, maxGapMs: a.maxGapMs, rule, keep: a.keep, log: (s) => print(`  ${s}`) });
  print('');
  print(describeOutcome(a, r));
  if (a.json) fs.writeFileSync(a.json, JSON.stringify({ args: a, ...r }, null, 2));
  return r;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((e) => {
    process.stderr.write(e instanceof UsageError ? `replay: ${e.message}\n` : `${(e as Error).stack ?? e}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  });
}
