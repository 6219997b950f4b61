import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeRepo, runGit, type TestRepo } from '../support/git-repo.js';
import { readHistory, readWarmup } from '../../bench/replay/history/commits.js';
import { labelCommits } from '../../bench/replay/history/labels.js';
import { replayHistory } from '../../bench/replay/history/replay.js';
import { totals } from '../../bench/replay/history/observe.js';
import { precision, recall } from '../../bench/replay/history/table.js';
import { DEFAULT_WARMUP_DAYS, describeOutcome, parseHistoryArgs, UsageError } from '../../bench/replay/history.js';
import type { DayStats } from '../../bench/replay/history/observe.js';

/**
 * The replay harness itself, on a small scripted history whose labels are known: two days, ten
 * commits. Each number the harness prints is asserted to be what the script implies, through the
 * real daemon, watcher and decision stage, and the real SDK against the fake Messages API.
 *
 * Day 1                                                   label   why
 *   c1 09:00 Add parser       src/parse.js test/parse.test.js  act   c2 repairs its test file
 *   c2 09:40 Fix parse test   test/parse.test.js               sleep
 *   c3 10:30 Docs: usage      README.md                         sleep (documentation: no model)
 *   c4 11:30 Refactor lib     src/lib.js                        sleep
 *   c5 13:00 Bump build       package.json                      act   c6 reverts it
 *   c6 14:00 Revert "Bump…"   package.json                      sleep
 * Day 2
 *   c7 09:00 Add format       src/format.js test/format.test.js sleep (no repair follows)
 *   c8 10:00 Tweak lib        src/lib.js test/lib.test.js       act   c9 "Fix lint" repairs src/lib.js
 *   c9 11:00 Fix lint         src/lib.js                        sleep (only whitespace: no model)
 *   c10 12:00 Docs: changelog CHANGELOG.md                      sleep (documentation: no model)
 */

const DAY1 = '2025-03-03';
const DAY2 = '2025-03-04';

function commitAt(repo: TestRepo, when: string, message: string, files: Record<string, string | null>): string {
  for (const [p, content] of Object.entries(files)) {
    if (content === null) repo.git('rm', '-q', p);
    else repo.write(p, content);
  }
  repo.git('add', '-A');
  const date = `${when}+00:00`;
  runGit(repo.dir, ['commit', '-q', '-m', message], { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date });
  return repo.rev();
}

function scriptedHistory(): { repo: TestRepo; shas: string[] } {
  const repo = makeRepo({ initialCommit: false, prefix: 'kairos-replay-src-' });
  commitAt(repo, `2025-03-01T10:00:00`, 'Initial', {
    'README.md': '# parser\n',
    'package.json': '{"name":"parser","version":"1.0.0"}\n',
    'src/lib.js': 'export const lib = 1;\n',
    'test/lib.test.js': "import { lib } from '../src/lib.js';\n",
  });
  const shas = [
    commitAt(repo, `${DAY1}T09:00:00`, 'Add parser', { 'src/parse.js': 'export function parse() {}\n', 'test/parse.test.js': 'parse(;\n' }),
    commitAt(repo, `${DAY1}T09:40:00`, 'Fix parse test', { 'test/parse.test.js': 'parse();\n' }),
    commitAt(repo, `${DAY1}T10:30:00`, 'Docs: usage', { 'README.md': '# parser\n\nUsage: parse()\n' }),
    commitAt(repo, `${DAY1}T11:30:00`, 'Refactor lib', { 'src/lib.js': 'export const lib = 2;\n' }),
    commitAt(repo, `${DAY1}T13:00:00`, 'Bump build', { 'package.json': '{"name":"parser","version":"2.0.0"}\n' }),
  ];
  shas.push(commitAt(repo, `${DAY1}T14:00:00`, `Revert "Bump build"\n\nThis reverts commit ${shas[4]}.`, { 'package.json': '{"name":"parser","version":"1.0.0"}\n' }));
  shas.push(
    commitAt(repo, `${DAY2}T09:00:00`, 'Add format', { 'src/format.js': 'export const format = 1;\n', 'test/format.test.js': 'format;\n' }),
    commitAt(repo, `${DAY2}T10:00:00`, 'Tweak lib', { 'src/lib.js': 'export const lib = 3 ;\n', 'test/lib.test.js': "import { lib } from '../src/lib.js'; lib;\n" }),
    commitAt(repo, `${DAY2}T11:00:00`, 'Fix lint', { 'src/lib.js': 'export const lib = 3;\n' }),
    commitAt(repo, `${DAY2}T12:00:00`, 'Docs: changelog', { 'CHANGELOG.md': '## 1.0.1\n' }),
  );
  return { repo, shas };
}

test('the labelling rule on the scripted history: c1 (test repaired), c5 (reverted), c8 (lint follow-up)', () => {
  const { repo, shas } = scriptedHistory();
  try {
    // Bare dates are whole UTC days (git alone would read them as that day at the current time).
    const days = readHistory(repo.dir, { since: DAY1, until: DAY2 });
    assert.deepEqual(
      days.map((d) => [d.date, d.commits.length]),
      [
        [DAY1, 6],
        [DAY2, 4],
      ],
    );
    const labels = labelCommits(days.flatMap((d) => d.commits));
    assert.deepEqual(
      shas.map((s) => labels.get(s)!.act),
      [true, false, false, false, true, false, false, true, false, false],
    );
    assert.equal(labels.get(shas[0]!)!.repairedBy, shas[1]);
    assert.equal(labels.get(shas[4]!)!.repairedBy, shas[5]);
    assert.equal(labels.get(shas[7]!)!.repairedBy, shas[8]);
  } finally {
    repo.cleanup();
  }
});

test('the warm-up is the active days just before the window, flagged, never the root commit', () => {
  const { repo, shas } = scriptedHistory();
  try {
    const warm = readWarmup(repo.dir, { since: DAY2 }, 1);
    assert.deepEqual(
      warm.map((d) => [d.date, d.commits.map((c) => c.sha), d.warmup]),
      [[DAY1, shas.slice(0, 6), true]],
    );
    // Two days asked for: DAY1, and the day of the root commit, which cannot be replayed (no parent to start the clone at).
    assert.deepEqual(
      readWarmup(repo.dir, { since: DAY2 }, 2).map((d) => d.date),
      [DAY1],
    );
    assert.deepEqual(readWarmup(repo.dir, { since: DAY2 }, 0), []);
    assert.deepEqual(readWarmup(repo.dir, { since: DAY1 }, 3), []);
    // Changes are read as for the window's commits.
    assert.deepEqual(warm[0]!.commits[0]!.changes.map((c) => c.path).sort(), ['src/parse.js', 'test/parse.test.js']);
  } finally {
    repo.cleanup();
  }
});

test('warm-up days are left out of the table, the goals and the act-labelled list', () => {
  const day = (date: string, over: Partial<DayStats>): DayStats => ({
    date,
    commits: 1,
    labelledAct: 0,
    events: 2,
    batches: 10,
    batchesWithoutModel: 0,
    batchesUndecided: 0,
    verdicts: {},
    triageCalls: 1,
    agentTasks: 0,
    spentMicro: 0,
    tp: 0,
    fn: 0,
    late: 0,
    actDecisions: 0,
    actDecisionsUnlabelled: 0,
    commitsSeenByModel: 1,
    leftParked: 0,
    ...over,
  });
  const args = parseHistoryArgs(['--repo', '.']);
  const text = describeOutcome(args, {
    days: [day('2025-01-01', { warmup: true, triageCalls: 9, labelledAct: 1, fn: 1 }), day('2025-01-02', {})],
    commits: [
      { index: 0, day: 0, sha: 'a'.repeat(40), replayedSha: '', writtenAt: 0, paths: [], act: true, label: { act: true, why: 'warm' }, reach: 'missed' },
      { index: 1, day: 1, sha: 'b'.repeat(40), replayedSha: '', writtenAt: 0, paths: [], act: false, label: { act: false, why: '' } },
    ],
    looks: [],
    treeMismatches: [],
    awayAfterMs: 1,
  });
  assert.doesNotMatch(text, /^2025-01-01 /m);
  assert.match(text, /^total\s+1\s+0\s+2\s+10\s/m);
  assert.match(text, /by calls, 1 - triage calls \/ batches .*: 90\.0%/);
  assert.match(text, /no act labels in the window/);
  assert.doesNotMatch(text, /aaaaaaaaaa/);
  assert.match(text, /warm-up before the window \(not scored above\): 2025-01-01: 1 commits, 10 batches, 9 triage calls/);
});

test('a replay through the real daemon: counts, triage calls, agent tasks, precision and recall are what the script implies', { timeout: 240_000 }, async () => {
  const { repo, shas } = scriptedHistory();
  try {
    const days = readHistory(repo.dir, { since: `${DAY1}T00:00:00Z` });
    const speed = 3600; // an hour of the day in a second...
    const r = await replayHistory({
      source: repo.dir,
      days,
      speed,
      // ...but every commit is decided before the next one is made (the harness waits for the daemon
      // to be quiet, not for a time), so the counts are exact on a loaded machine too.
      minGapMs: 4000,
      maxGapMs: 4500,
      decideEachCommit: true,
      // The user counts as away 1 ms after their last change: every batch is decided when it comes,
      // never parked (how parked work wakes up is presence's business, tested in test/e2e).
      awayAfterSimMs: speed,
    });
    assert.deepEqual(r.treeMismatches, [], 'every replayed commit has the original tree');
    assert.deepEqual(
      r.commits.map((c) => c.sha),
      shas,
    );
    assert.deepEqual(
      r.days.map((d) => [d.date, d.commits, d.labelledAct]),
      [
        [DAY1, 6, 2],
        [DAY2, 4, 1],
      ],
    );
    // One git.commit per commit and at least one event per file written (day 1 writes 7 files, day 2
    // six); under load chokidar may report one write as two changes (its truncation, then its data),
    // so a file counts once or twice, never zero times and never more.
    const files = [7, 6];
    const commits = [6, 4];
    r.days.forEach((d, i) => {
      assert.ok(d.events >= files[i]! + commits[i]! && d.events <= 2 * files[i]! + commits[i]!, `${d.date}: ${d.events} events for ${files[i]} files and ${commits[i]} commits`);
    });
    // One triage call per commit that is not documentation (c3 and c10 sleep on the heuristic) or a
    // reformat (c9 only takes a space out: the diff heuristic): a commit's files and its git.commit
    // are two batches, and one look.
    assert.deepEqual(
      r.days.map((d) => d.triageCalls),
      [5, 2],
    );
    assert.deepEqual(
      r.days.map((d) => [d.actDecisions, d.agentTasks]),
      [
        [2, 2],
        [1, 1],
      ],
    );
    assert.deepEqual(
      r.days.map((d) => [d.tp, d.fn, d.late, d.actDecisionsUnlabelled]),
      [
        [2, 0, 0, 0],
        [1, 0, 0, 0],
      ],
    );
    for (const d of r.days) {
      assert.equal(d.batchesUndecided, 0, `${d.date}: every batch decided`);
      assert.equal(d.leftParked, 0);
      // How the watcher groups a commit's events into batches is its own business (one per event, or
      // a few together): the script fixes only the bounds. Every look ends at least one batch; those
      // of the documentation commit end without a model.
      assert.ok(d.batches >= 2 * d.commits && d.batches <= d.events, `${d.date}: ${d.batches} batches for ${d.commits} commits, ${d.events} events`);
      // (a batch regrouped after its commit's look may also end on "already looked at": no model either)
      assert.ok(d.batchesWithoutModel >= 1, `${d.date}: ${d.batchesWithoutModel} batches without a model, the documentation commit's among them`);
      assert.ok(d.batches - d.batchesWithoutModel >= d.triageCalls, `${d.date}: each look ended at least one batch`);
      assert.ok(d.spentMicro > 0, `${d.date}: the spend ledger charged the calls`);
    }
    // The documentation commits sleep on the heuristic (once, or once per batch when their file and
    // commit batches were not merged while queued).
    for (const d of r.days) assert.ok(d.verdicts['heuristic/sleep: only documentation changed: nothing for an agent to check']! >= 1, `${d.date}: ${JSON.stringify(d.verdicts)}`);
    assert.deepEqual(
      r.commits.filter((c) => c.act).map((c) => [c.sha, c.reach]),
      [0, 4, 7].map((i) => [shas[i], 'in time']),
    );
    const t = totals(r.days);
    assert.equal(precision(t), 1);
    assert.equal(recall(t), 1);
    assert.equal(t.commitsSeenByModel, 7);
    assert.ok((t.verdicts['heuristic/sleep: only formatting changed in N file: nothing for an agent to check'] ?? 0) >= 1, JSON.stringify(t.verdicts));
  } finally {
    repo.cleanup();
  }
});

test('bad arguments are one clear line, not a stack', () => {
  assert.throws(() => parseHistoryArgs([]), (e: unknown) => e instanceof UsageError && /--repo PATH is required/.test((e as Error).message));
  assert.throws(() => parseHistoryArgs(['--repo', '/nonexistent/x']), /--repo \/nonexistent\/x: no such directory/);
  assert.throws(() => parseHistoryArgs(['--repo', '.', '--speed', 'fast']), /--speed fast: expected a positive number/);
  assert.throws(() => parseHistoryArgs(['--repo', '.', '--warmup-days', '1.5']), /--warmup-days 1.5: expected a whole number of days, 0 or more/);
  assert.equal(parseHistoryArgs(['--repo', '.']).warmupDays, DEFAULT_WARMUP_DAYS);
  assert.equal(parseHistoryArgs(['--repo', '.', '--warmup-days', '0']).warmupDays, 0);
  assert.throws(() => parseHistoryArgs(['--repo', '.', '--bogus']), (e: unknown) => e instanceof UsageError && /bogus/.test((e as Error).message));
});
