/**
 * Replays a recorded "day in a repo" (bench/replay/traces/day.json, from generate.ts) through the
 * real decider — store, ledger, model client and SDK — against the fake Messages API, whose answers
 * come from a simple deterministic oracle standing in for the triage model. Prints the decisions
 * made, model calls, dollars, and precision/recall of "should act" against the trace's labels, for
 * Kairos and for the baseline "triage everything no rule handles" (no heuristics, no presence).
 *
 *   node --import tsx bench/replay/run.ts [trace.json] [--verbose]
 *
 * This is how a change to the decision logic is judged: run it before and after.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { openDb, type Db } from '../../src/store/db.js';
import { createModelClient } from '../../src/model/client.js';
import { formatUsd, loadPriceTable } from '../../src/model/prices.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { contentHash, decide, tickItem, type Decision, type TickItem } from '../../src/pipeline/decide.js';
import { Presence } from '../../src/pipeline/presence.js';
import { TickLoop } from '../../src/pipeline/tick-loop.js';
import { startFakeAnthropic, type RecordedRequest, type Reply } from '../../test/support/fake-anthropic.js';
import { Trace, type Step } from './trace.js';
import { TRACE_FILE } from './generate.js';

/**
 * The stand-in triage model. Deliberately imperfect, like a cheap model: it acts on a failing
 * result nobody acted on yet and on a user's request for a review (right), on any package.json
 * change (wrong: a routine bump), and knows nothing about migrations needing tests (a miss).
 */
export function oracle(req: RecordedRequest): Reply {
  const text = String(req.body?.messages?.[0]?.content ?? '');
  const say = (act: boolean, why: string, task?: string, urgency = 'later'): Reply => ({ text: JSON.stringify({ act, why, ...(task ? { task } : {}), urgency }) });
  const note = /The developer's note: (.*)/.exec(text)?.[1] ?? '';
  if (/review|check/i.test(note)) return say(true, 'the developer asked for a review', `Review the latest commit: ${note}`, 'now');
  const results = /Last results:\n([\s\S]*?)\n\n/.exec(text)?.[1] ?? '';
  const latest = /^- (\S+): (failed|done)[^\n]* at (\S+)/m.exec(results);
  if (latest && latest[2] === 'failed') {
    const actedAfter = [...text.matchAll(/^- (\S+) act: /gm)].some((m) => m[1]! >= latest[3]!);
    if (!actedAfter) return say(true, `${latest[1]} fail since the last commit`, `Find why ${latest[1]} fail and propose the smallest fix`, 'next');
  }
  if (/Changed paths \(\d+\): [^\n]*package\.json/.test(text)) return say(true, 'dependencies changed', 'Run npm audit and summarise new advisories');
  return say(false, 'nothing needs doing');
}

export interface ReplayResult {
  variant: string;
  decisions: Record<string, number>;
  modelCalls: number;
  apiRequests: number;
  spentMicro: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  precision: number;
  recall: number;
  /** Minutes from a should-act step to the act decision, for each hit. */
  latenciesMin: number[];
}

type Variant = 'kairos' | 'baseline';

export async function replay(trace: Trace, variant: Variant, verbose = false): Promise<ReplayResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-replay-'));
  const fake = await startFakeAnthropic({ fallback: oracle });
  try {
    const home = path.join(dir, 'home');
    const repo = path.join(dir, 'tiny-parser');
    for (const [p, c] of Object.entries(trace.files)) write(repo, p, c);
    const db = openDb(path.join(home, 'kairos.db'));
    const policy = parsePolicyText(trace.policy, `${trace.name}.policy.yaml`);
    const start = new Date(trace.start).getTime();
    let now = start;
    const clock = () => now;
    const model = createModelClient({ db, budget: policy.budget, models: policy.models, apiKey: 'sk-replay', baseURL: fake.url, prices: loadPriceTable(), clock, sleep: async () => {} });
    const presence = new Presence({ clock });
    const labels = new Map<number, { shouldAct: boolean; at: number }>();
    const decisions: Array<{ d: Decision; item: TickItem }> = [];
    // A new result of a rule (tests ran) is new information even when no file changed.
    const extra = (): string => String((db.prepare('SELECT MAX(id) AS id FROM tasks WHERE repo = ?').get(repo) as { id: number | null }).id ?? 0);
    let unique = 0;
    const loop = new TickLoop({
      decide: (item) =>
        variant === 'kairos'
          ? decide(item, { db, model, policy, home, presence, clock })
          : decide({ ...item, contentHash: `${item.contentHash}:${++unique}` }, { db, model, policy, home, clock }),
      onDecision: (d, item) => void decisions.push({ d, item }),
      rehash: (_repo, paths) => contentHash(repo, paths, extra()),
      onError: (err) => {
        throw err;
      },
    });

    const advanceTo = async (t: number): Promise<void> => {
      for (let away = presence.awayAt(now); away !== undefined && away <= t; away = presence.awayAt(now)) {
        now = away;
        loop.wake();
        await loop.idle();
      }
      now = Math.max(now, t);
    };

    for (const step of trace.steps) {
      await advanceTo(start + step.atMin * 60_000);
      const item = ingest(db, repo, step, now, extra, presence);
      if (!item) continue;
      if ('label' in step) for (const id of item.eventIds) labels.set(id, { shouldAct: step.label.shouldAct, at: now });
      loop.offer(item);
      await loop.idle();
    }
    await advanceTo(now + 3 * 3_600_000);
    await loop.idle();

    const r: ReplayResult = {
      variant,
      decisions: {},
      modelCalls: fake.messageRequests().length,
      apiRequests: fake.requests.length,
      spentMicro: 0,
      tp: 0,
      fp: 0,
      fn: 0,
      tn: 0,
      precision: 0,
      recall: 0,
      latenciesMin: [],
    };
    for (const { d, item } of decisions) {
      const key = `${d.stage}/${d.outcome}`;
      r.decisions[key] = (r.decisions[key] ?? 0) + 1;
      r.spentMicro += d.costMicro;
      if (d.outcome === 'later' || d.outcome === 'rules') continue;
      const ls = item.eventIds.map((id) => labels.get(id)).filter((l): l is { shouldAct: boolean; at: number } => l !== undefined);
      if (!ls.length) continue;
      const should = ls.some((l) => l.shouldAct);
      if (verbose) {
        const hhmm = new Date(d.at).toTimeString().slice(0, 5);
        process.stdout.write(`  ${variant} ${hhmm} ${d.outcome.padEnd(5)} label=${should ? 'act  ' : 'sleep'} ${item.source} ${item.paths.join(',') || item.note || ''}: ${d.why}\n`);
      }
      if (d.outcome === 'act' && should) {
        r.tp++;
        r.latenciesMin.push(Math.round((d.at - Math.min(...ls.filter((l) => l.shouldAct).map((l) => l.at))) / 60_000));
      } else if (d.outcome === 'act') r.fp++;
      else if (should) r.fn++;
      else r.tn++;
    }
    r.precision = r.tp + r.fp ? r.tp / (r.tp + r.fp) : 1;
    r.recall = r.tp + r.fn ? r.tp / (r.tp + r.fn) : 1;
    db.close();
    return r;
  } finally {
    await fake.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Applies one step to the repository and the store; returns the tick item it makes, if any. */
function ingest(db: Db, repo: string, step: Step, now: number, extra: () => string, presence: Presence): TickItem | undefined {
  const iso = new Date(now).toISOString();
  const event = (type: string, p: string | null, data: object = {}): number =>
    Number(db.prepare(`INSERT INTO events (type, repo, at, path, origin, data) VALUES (?, ?, ?, ?, 'user', ?)`).run(type, repo, iso, p, JSON.stringify(data)).lastInsertRowid);
  switch (step.kind) {
    case 'edit': {
      presence.noteFsActivity(now);
      const events = Object.entries(step.files).map(([p, c]) => {
        write(repo, p, c);
        return { id: event('file.changed', p), type: 'file.changed', path: p };
      });
      return tickItem({ repo, source: 'ambient', events, at: now, extra: extra() });
    }
    case 'commit': {
      presence.noteFsActivity(now);
      const id = event('git.commit', null, { message: step.message, paths: step.paths });
      return tickItem({ repo, source: 'batch', trigger: { name: 'tests', run: 'npm test' }, events: [{ id, type: 'git.commit' }], paths: step.paths, at: now, extra: extra() });
    }
    case 'cron': {
      const id = event('cron', null, { trigger: step.trigger, slot: iso, catchUp: false });
      return tickItem({ repo, source: 'cron', trigger: { name: step.trigger, run: 'npm audit' }, events: [{ id, type: 'cron' }], at: now });
    }
    case 'poke': {
      presence.noteCliUse(now);
      const id = event('manual', null, { note: step.note });
      return tickItem({ repo, source: 'poke', events: [{ id, type: 'manual' }], note: step.note, at: now, extra: extra() });
    }
    case 'result': {
      db.prepare(
        `INSERT INTO tasks (repo, trigger, kind, state, created_at, started_at, finished_at, command, exit_code, output)
         VALUES (?, ?, 'command', ?, ?, ?, ?, 'npm test', ?, ?)`,
      ).run(repo, step.trigger, step.state, iso, iso, iso, step.exitCode, step.output);
      return undefined;
    }
  }
}

function write(repo: string, p: string, content: string): void {
  const file = path.join(repo, p);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

function print(r: ReplayResult): string {
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const lat = r.latenciesMin.length ? ` (minutes to act: ${r.latenciesMin.join(', ')})` : '';
  return [
    `${r.variant}:`,
    `  decisions    ${Object.entries(r.decisions)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `  model calls  ${r.modelCalls} (${r.apiRequests} API requests with count_tokens)`,
    `  dollars      ${formatUsd(r.spentMicro)}`,
    `  should act   precision ${pct(r.precision)}, recall ${pct(r.recall)}  (tp ${r.tp}, fp ${r.fp}, fn ${r.fn}, tn ${r.tn})${lat}`,
  ].join('\n');
}

export async function main(file = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? TRACE_FILE): Promise<{ kairos: ReplayResult; baseline: ReplayResult }> {
  const trace = Trace.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
  const verbose = process.argv.includes('--verbose');
  const kairos = await replay(trace, 'kairos', verbose);
  const baseline = await replay(trace, 'baseline', verbose);
  process.stdout.write(`replay ${trace.name} (${trace.steps.length} steps)\n${print(kairos)}\n${print(baseline)}\n`);
  return { kairos, baseline };
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
}
