import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { storePath } from '../../../src/store/db.js';
import { DEFAULT_LOOK_EVERY } from '../../../src/pipeline/look-backoff.js';
import { parseDuration } from '../../../src/policy/duration.js';
import { isTriageRequest, labelledTriage, startFakeAnthropic } from '../../../test/support/fake-anthropic.js';
import { kairos, makeHome, spawnDaemon, waitFor, type DaemonProcess } from '../../../test/support/kairos.js';
import { PathOwners } from './attribution.js';
import type { HistoryDay } from './commits.js';
import { DEFAULT_LABEL_RULE, labelCommits, type Label, type LabelRule } from './labels.js';
import { observe, type DayMark, type DayStats, type OracleLook, type Reach, type ReplayedCommit } from './observe.js';
import { commitWrites, makeScratchClone, writeChanges } from './scratch.js';

/**
 * Re-lives a repository's days through the real daemon: a scratch clone it watches with its real
 * watcher, settle stage and decision stage (heuristics → triage → agent), the real SDK against the
 * fake Messages API, whose triage answers are the labels (labelledTriage). Time is compressed: a
 * gap of `speed` simulated seconds takes one real second, bounded by `minGapMs`/`maxGapMs` (a long
 * gap only needs to be long enough for the user to count as away), and the user's away_after is
 * compressed by the same factor so presence means what it means on a real day.
 */

export interface ReplayOptions {
  /** The repository whose history is replayed (it is cloned; nothing in it is changed). */
  source: string;
  days: HistoryDay[];
  /** Simulated seconds per real second. */
  speed: number;
  minGapMs: number;
  maxGapMs: number;
  /** The user's presence.away_after on the simulated clock (default 15 minutes). */
  awayAfterSimMs?: number | undefined;
  rule?: LabelRule | undefined;
  /** How long to wait for the day's work to be decided before closing it anyway. */
  dayEndTimeoutMs?: number | undefined;
  /**
   * Wait until each commit is decided (nothing settling, queued or parked) before making the next:
   * one look per commit on any machine, loaded or not. For tests whose counts must be exact; a
   * real day's replay leaves it off, since merging close commits into one look is what the daemon does.
   */
  decideEachCommit?: boolean | undefined;
  /** Keep the scratch clone and KAIROS_HOME (printed) instead of removing them. */
  keep?: boolean | undefined;
  log?: ((line: string) => void) | undefined;
}

export interface ReplayOutcome {
  days: DayStats[];
  commits: Array<ReplayedCommit & { label: Label; reach?: Reach | undefined }>;
  /** Every triage answer the oracle gave, in order ("look N" is looks[N - 1]). */
  looks: OracleLook[];
  /** Replayed commits whose tree differs from the original's (the replay drifted). */
  treeMismatches: string[];
  awayAfterMs: number;
  home?: string | undefined;
}

/**
 * The user policy of a replay: no triggers (every change goes to the decision stage), generous caps,
 * no dream; presence.away_after and triage.look_every (the shipped 15 and 10 minutes) on the
 * compressed clock.
 */
export function replayPolicy(awayAfterMs: number, lookEveryMs: number): string {
  return [
    'version: 1',
    'triggers: []',
    'budget: { task_usd: 0.5, day_usd: 1000, month_usd: 100000 }',
    'models: { triage: claude-haiku-4-5, act: claude-sonnet-4-6 }',
    `presence: { away_after: ${Math.max(1, Math.round(awayAfterMs))} }`,
    `triage: { look_every: ${Math.max(1, Math.round(lookEveryMs))} }`,
    'dream: { enabled: false }',
    '',
  ].join('\n');
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Status {
  pending: unknown[];
  running: unknown[];
  queued: unknown[];
  ambient: { queued: number; parked: number };
}

export async function replayHistory(o: ReplayOptions): Promise<ReplayOutcome> {
  const log = o.log ?? (() => {});
  const all = o.days.flatMap((d, day) => d.commits.map((c) => ({ c, day })));
  if (!all.length) throw new Error('no commits in the window: widen --since/--until');
  const labels = labelCommits(
    all.map((x) => x.c),
    o.rule ?? DEFAULT_LABEL_RULE,
  );
  const awayAfterMs = (o.awayAfterSimMs ?? 15 * 60_000) / o.speed;

  const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-replay-')));
  const scratch = path.join(tmp, path.basename(o.source.replace(/\/(\.git|repo)\/?$/, '')) || 'repo');
  const first = all[0]!.c;
  if (!first.parent) throw new Error(`${first.sha} is a root commit: start the window one commit later`);
  log(`cloning ${o.source} into ${scratch} at ${first.parent.slice(0, 10)}`);
  makeScratchClone(o.source, scratch, first.parent, all.at(-1)!.c.sha);

  const owners = new PathOwners();
  const replayed: Array<ReplayedCommit & { label: Label }> = [];
  // The oracle acts once per act-labelled commit, as a model told its last decisions would: asked
  // again about a commit it already acted on, it sleeps. Each answer is numbered ("look N: ...") and
  // the moment it was given is kept, so the score attributes the decision's paths at that same
  // moment (observe.ts): label and score use one clock.
  const actedOn = new Set<number>();
  const looks: OracleLook[] = [];
  const fake = await startFakeAnthropic({
    fallback: labelledTriage((paths) => {
      const at = Date.now();
      const tag = `look ${looks.length + 1}`;
      const about = owners.owners(paths, at).map((i) => replayed[i]!);
      const act = about.find((c) => c.label.act && !actedOn.has(c.index));
      looks.push({ at, actOn: act?.index });
      if (act) {
        actedOn.add(act.index);
        return { act: true, why: `${tag}: ${act.sha.slice(0, 10)}: ${act.label.why}` };
      }
      if (about.some((c) => c.label.act)) return { act: false, why: `${tag}: already acted on these commits` };
      return { act: false, why: `${tag}: ${about.length ? 'labelled sleep' : 'no replayed commit among these paths'}` };
    }),
  });
  const h = makeHome(replayPolicy(awayAfterMs, parseDuration(DEFAULT_LOOK_EVERY) / o.speed));
  const env = { ...h.env, ANTHROPIC_API_KEY: 'sk-replay-fake', ANTHROPIC_BASE_URL: fake.url };
  let daemon: DaemonProcess | undefined;
  const treeMismatches: string[] = [];
  try {
    daemon = await spawnDaemon([scratch], env, 120_000);
    const db = new Database(storePath(h.home), { readonly: true });
    const maxId = (table: string): number => (db.prepare(`SELECT COALESCE(MAX(id), 0) AS id FROM ${table}`).get() as { id: number }).id;
    const commitStored = (sha: string): boolean =>
      db.prepare(`SELECT 1 FROM events WHERE type = 'git.commit' AND json_extract(data, '$.to') = ?`).get(sha) !== undefined;
    const marks: DayMark[] = [];
    let prevAt: number | undefined;
    for (const [dayIndex, day] of o.days.entries()) {
      log(`${day.warmup ? 'warm-up day (not scored)' : 'day'} ${day.date}: ${day.commits.length} commits`);
      prevAt = undefined;
      for (const c of day.commits) {
        const simGap = prevAt === undefined ? 0 : Math.max(0, c.at - prevAt);
        prevAt = c.at;
        const gap = Math.min(o.maxGapMs, Math.max(o.minGapMs, simGap / o.speed));
        // The edits come a little before the commit, as a person saves and then commits.
        const lead = Math.min(1000, gap / 2);
        await sleep(gap - lead);
        const writeAt = Date.now();
        const index = replayed.length;
        const label = labels.get(c.sha)!;
        const paths = c.changes.map((f) => f.path);
        replayed.push({ index, day: dayIndex, sha: c.sha, replayedSha: '', writtenAt: writeAt, paths, act: label.act, label });
        owners.record(index, paths, writeAt);
        writeChanges(scratch, c);
        await sleep(lead);
        const made = commitWrites(scratch, c);
        replayed[index]!.replayedSha = made.sha;
        if (!made.sameTree) treeMismatches.push(c.sha);
        // The commit must reach the store before the next one is made: attribution depends on it.
        await waitFor(() => commitStored(made.sha), { timeoutMs: 60_000, what: `the git.commit event of ${c.sha.slice(0, 10)}` });
        if (o.decideEachCommit) {
          const left = await dayEnd(env, 60_000);
          if (left) throw new Error(`commit ${c.sha.slice(0, 10)}: ${left} items still parked or queued after 60 s`);
        }
      }
      const leftParked = await dayEnd(env, o.dayEndTimeoutMs ?? 75_000);
      if (leftParked) log(`  day ${day.date} closed with ${leftParked} items still parked or queued`);
      const spend = JSON.parse(kairos(['spend', '--json'], env).stdout) as { month?: { spent_usd: number } };
      marks.push({
        date: day.date,
        eventId: maxId('events'),
        decisionId: maxId('decisions'),
        taskId: maxId('tasks'),
        spentMicro: Math.round((spend.month?.spent_usd ?? 0) * 1e6),
        triageRequests: fake.messageRequests().filter(isTriageRequest).length,
        leftParked,
        ...(day.warmup ? { warmup: true } : {}),
      });
    }
    db.close();
    const indexOf = new Map(replayed.map((c) => [c.sha, c.index]));
    for (const c of replayed) if (c.label.repairedBy) c.repairIndex = indexOf.get(c.label.repairedBy);
    daemon.kill('SIGTERM');
    await daemon.exited;
    daemon = undefined;
    const { days, reach } = observe(storePath(h.home), replayed, owners, marks, looks);
    return { days, commits: replayed.map((c) => ({ ...c, reach: reach.get(c.index) })), looks, treeMismatches, awayAfterMs, home: o.keep ? h.home : undefined };
  } finally {
    if (daemon) {
      daemon.kill('SIGTERM');
      await daemon.exited;
    }
    await fake.close();
    if (o.keep) log(`kept: ${tmp} (scratch clone) and ${h.home} (KAIROS_HOME)`);
    else {
      h.cleanup();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }

  /**
   * The day is over when the user has stepped away and everything they did is decided: nothing
   * settling, nothing queued or parked for a decision, no task queued or running. Returns how many
   * items were still parked or queued when `timeoutMs` ran out (0: the day closed cleanly).
   */
  async function dayEnd(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<number> {
    const read = (): Status => JSON.parse(kairos(['status', '--json'], env).stdout) as Status;
    const quiet = (s: Status) => s.pending.length === 0 && s.running.length === 0 && s.queued.length === 0 && s.ambient.queued === 0 && s.ambient.parked === 0;
    const deadline = Date.now() + timeoutMs;
    // Quiet twice in a row, a settle window apart: an event still on its way from the watcher lands in between.
    for (let streak = 0; Date.now() < deadline; await sleep(750)) {
      streak = quiet(read()) ? streak + 1 : 0;
      if (streak >= 3) return 0;
    }
    const s = read();
    return s.ambient.parked + s.ambient.queued;
  }
}
