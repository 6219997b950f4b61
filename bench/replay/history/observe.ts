import Database from 'better-sqlite3';
import type { PathOwners } from './attribution.js';

/**
 * Reads what the daemon did from its own store after a replay — events, the settled batches they
 * formed, the decisions taken on them, the agent tasks started — and scores it per simulated day
 * against the labels. Nothing here is inferred from the daemon's output text: every count is a row.
 */

/** A replayed commit, as the scoring needs it. */
export interface ReplayedCommit {
  index: number;
  day: number;
  sha: string;
  /** The sha of the commit the replay made (its git.commit event names it). */
  replayedSha: string;
  /** When its files were written (epoch ms, real time). */
  writtenAt: number;
  /** The files it changed. */
  paths: string[];
  act: boolean;
  /** For an act label: the index of the repairing commit, when it was replayed. */
  repairIndex?: number | undefined;
}

/** One answer of the fake triage model: when it was given, and the commit it acted on. */
export interface OracleLook {
  /** Epoch ms, real time: the moment the oracle attributed the look's paths to commits. */
  at: number;
  /** The replayed commit's index, for an "act" answer. */
  actOn?: number | undefined;
}

/** The oracle's answers start "look N: ..."; the decision row keeps the answer's why. */
const LOOK_TAG = /^look (\d+): /;

/** The store's high-water marks when a day was over (everything of that day decided, or given up on). */
export interface DayMark {
  date: string;
  eventId: number;
  decisionId: number;
  taskId: number;
  /** Month spend from `kairos spend --json`, µ$ (cumulative). */
  spentMicro: number;
  /** Triage requests the fake answered so far (cumulative). */
  triageRequests: number;
  /** Items still parked or queued when the day was closed (the wait gave up). */
  leftParked: number;
  /** A warm-up day (before the window; not scored). */
  warmup?: boolean | undefined;
}

export interface DayStats {
  date: string;
  commits: number;
  labelledAct: number;
  events: number;
  /** Settled batches: the groups of events the settle stage handed to the decision stage. */
  batches: number;
  /** Batches whose final decision made no model call (heuristics or rules). */
  batchesWithoutModel: number;
  /** Batches never finally decided (still parked or queued when the replay ended). */
  batchesUndecided: number;
  /** Every decision row of the day, by stage/outcome and (for heuristics) reason; 'later' included. */
  verdicts: Record<string, number>;
  triageCalls: number;
  agentTasks: number;
  spentMicro: number;
  /** Act-labelled commits reached by an act decision. */
  tp: number;
  fn: number;
  /** Of tp: reached only after the repairing commit had already landed. */
  late: number;
  /** Act decisions of the day, and those about no act-labelled commit. */
  actDecisions: number;
  actDecisionsUnlabelled: number;
  /** Commits whose changes a model was asked about (triage). */
  commitsSeenByModel: number;
  leftParked: number;
  /** A warm-up day, replayed before the window and left out of the table and the goals. */
  warmup?: boolean | undefined;
}

interface EventRow {
  id: number;
  type: string;
  at: string;
  path: string | null;
  data: string;
  settled_at: string | null;
}
interface DecisionRow {
  id: number;
  event_ids: string;
  stage: string;
  outcome: string;
  why: string;
  at: number;
}

/** A heuristic's reason without its numbers, so one rule is one line of the table. */
export function verdictKey(stage: string, outcome: string, why: string): string {
  if (stage === 'triage' || stage === 'action') return `${stage}/${outcome}`;
  const reason = why.replace(/\(.*$/, '').replace(/\$[\d.]+/g, '$').replace(/\d+/g, 'N').trim();
  return `${stage}/${outcome}: ${reason.length > 70 ? `${reason.slice(0, 67)}...` : reason}`;
}

function dayOf(marks: readonly DayMark[], id: number, key: 'eventId' | 'decisionId' | 'taskId'): number {
  const d = marks.findIndex((m) => id <= m[key]);
  return d === -1 ? marks.length - 1 : d;
}

/** What became of an act-labelled commit. */
export type Reach = 'in time' | 'late' | 'missed';

export function observe(
  dbFile: string,
  commits: readonly ReplayedCommit[],
  owners: PathOwners,
  marks: readonly DayMark[],
  looks: readonly OracleLook[] = [],
): { days: DayStats[]; reach: Map<number, Reach> } {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const last = marks.at(-1)!;
    const events = db.prepare(`SELECT id, type, at, path, data, settled_at FROM events WHERE origin = 'user' AND id <= ? ORDER BY id`).all(last.eventId) as EventRow[];
    const decisions = db.prepare(`SELECT id, event_ids, stage, outcome, why, at FROM decisions WHERE id <= ? ORDER BY id`).all(last.decisionId) as DecisionRow[];
    const agentTasks = db.prepare(`SELECT id FROM tasks WHERE kind = 'agent' AND id <= ?`).all(last.taskId) as Array<{ id: number }>;

    const byReplayedSha = new Map(commits.map((c) => [c.replayedSha, c]));
    /** git.commit event id → the replayed commit it recorded */
    const commitOf = new Map<number, ReplayedCommit>();
    for (const e of events) {
      const c = e.type === 'git.commit' ? byReplayedSha.get(String((JSON.parse(e.data) as { to?: unknown }).to)) : undefined;
      if (c) commitOf.set(e.id, c);
    }

    const decisionsOf = new Map<number, DecisionRow[]>();
    for (const d of decisions) for (const id of JSON.parse(d.event_ids) as number[]) decisionsOf.set(id, [...(decisionsOf.get(id) ?? []), d]);

    // What a model's decision was about: the commits owning its paths (its events' paths and its
    // commits' files) at the moment the oracle answered — the clock the oracle labelled by, so the
    // score and the label never disagree about which commit a path belonged to (a commit whose files
    // land while a look is in flight is the look's, for both). Without the oracle's moment (a
    // decision row not from this harness), the decision's own time.
    const eventById = new Map(events.map((e) => [e.id, e]));
    const modelAbout = new Map<number, { at: number; commits: ReplayedCommit[] }>();
    for (const d of decisions) {
      if (d.stage !== 'triage' && d.stage !== 'action') continue;
      const tag = LOOK_TAG.exec(d.why);
      const at = (tag ? looks[Number(tag[1]) - 1]?.at : undefined) ?? d.at;
      const paths = new Set<string>();
      for (const id of JSON.parse(d.event_ids) as number[]) {
        const e = eventById.get(id);
        if (!e) continue;
        if (e.path) paths.add(e.path);
        for (const p of commitOf.get(e.id)?.paths ?? []) paths.add(p);
      }
      modelAbout.set(d.id, { at, commits: owners.owners([...paths], at).map((i) => commits[i]!) });
    }

    const stats: DayStats[] = marks.map((m, i) => ({
      date: m.date,
      commits: commits.filter((c) => c.day === i).length,
      labelledAct: commits.filter((c) => c.day === i && c.act).length,
      events: 0,
      batches: 0,
      batchesWithoutModel: 0,
      batchesUndecided: 0,
      verdicts: {},
      triageCalls: m.triageRequests - (marks[i - 1]?.triageRequests ?? 0),
      agentTasks: 0,
      spentMicro: m.spentMicro - (marks[i - 1]?.spentMicro ?? 0),
      tp: 0,
      fn: 0,
      late: 0,
      actDecisions: 0,
      actDecisionsUnlabelled: 0,
      commitsSeenByModel: 0,
      leftParked: m.leftParked,
      ...(m.warmup ? { warmup: true } : {}),
    }));

    for (const e of events) stats[dayOf(marks, e.id, 'eventId')]!.events++;
    for (const t of agentTasks) stats[dayOf(marks, t.id, 'taskId')]!.agentTasks++;

    // A settled batch is the group of events the settle stage released together (one settled_at).
    const batches = new Map<string, EventRow[]>();
    for (const e of events) if (e.settled_at) batches.set(e.settled_at, [...(batches.get(e.settled_at) ?? []), e]);
    for (const evs of batches.values()) {
      const s = stats[dayOf(marks, evs[0]!.id, 'eventId')]!;
      s.batches++;
      const final = evs
        .flatMap((e) => decisionsOf.get(e.id) ?? [])
        .filter((d) => d.outcome !== 'later')
        .sort((a, b) => b.id - a.id)[0];
      if (!final) s.batchesUndecided++;
      else if (final.stage === 'heuristic' || final.stage === 'rules') s.batchesWithoutModel++;
    }

    for (const d of decisions) {
      const s = stats[dayOf(marks, d.id, 'decisionId')]!;
      const key = verdictKey(d.stage, d.outcome, d.why);
      s.verdicts[key] = (s.verdicts[key] ?? 0) + 1;
      if (d.outcome !== 'act') continue;
      s.actDecisions++;
      if (!modelAbout.get(d.id)?.commits.some((c) => c.act)) s.actDecisionsUnlabelled++;
    }

    const reach = new Map<number, Reach>();
    const modelDecisions = decisions.filter((d) => modelAbout.has(d.id));
    for (const c of commits) {
      const ds = modelDecisions.filter((d) => modelAbout.get(d.id)!.commits.includes(c));
      const s = stats[c.day]!;
      if (ds.length) s.commitsSeenByModel++;
      if (!c.act) continue;
      const acts = ds.filter((d) => d.outcome === 'act');
      if (!acts.length) {
        s.fn++;
        reach.set(c.index, 'missed');
        continue;
      }
      s.tp++;
      const repairedAt = c.repairIndex === undefined ? undefined : commits[c.repairIndex]?.writtenAt;
      const late = repairedAt !== undefined && acts.every((d) => modelAbout.get(d.id)!.at >= repairedAt);
      if (late) s.late++;
      reach.set(c.index, late ? 'late' : 'in time');
    }
    return { days: stats, reach };
  } finally {
    db.close();
  }
}

/** Sums the days into one row (dated "total"). */
export function totals(days: readonly DayStats[]): DayStats {
  const t: DayStats = { ...days[0]!, date: 'total', verdicts: {}, warmup: undefined };
  for (const k of Object.keys(t) as Array<keyof DayStats>) if (typeof t[k] === 'number') (t as unknown as Record<string, number>)[k] = 0;
  for (const d of days) {
    for (const [k, v] of Object.entries(d)) if (typeof v === 'number') (t as unknown as Record<string, number>)[k]! += v;
    for (const [k, v] of Object.entries(d.verdicts)) t.verdicts[k] = (t.verdicts[k] ?? 0) + v;
  }
  return t;
}
