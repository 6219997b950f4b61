import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDb } from '../../src/store/db.js';
import { EventStore } from '../../src/store/event-store.js';
import { recordDecision } from '../../src/store/decision-store.js';
import { PathOwners } from '../../bench/replay/history/attribution.js';
import { observe, type OracleLook, type ReplayedCommit } from '../../bench/replay/history/observe.js';
import { tempDir } from '../support/temp.js';

/**
 * The replay's score attributes a model decision's paths at the moment the oracle answered it (the
 * clock the oracle labelled by), not at its events' times nor at the decision's start: a commit
 * whose files landed while the look was in flight is the look's, for label and score alike.
 *
 *   A (act-labelled) writes src/a.rs at t=1000, commits; a look starts (decision at 1500) holding
 *   A's events; B writes src/a.rs again at 2000 (B repairs A).
 *   - oracle answered at 1600: the look was about A → A reached, in time;
 *   - oracle answered at 2500: the file held B's content, the look was about B → A missed, and the
 *     act was about no act-labelled commit.
 */

const REPO = '/repo';

function scenario(answeredAt: number | undefined, why: string) {
  const tmp = tempDir('kairos-replay-observe-');
  try {
    const file = path.join(tmp.dir, 'kairos.db');
    const db = openDb(file);
    const at = (ms: number) => new Date(ms).toISOString();
    const [saved, commit] = new EventStore(db).appendMany([
      { type: 'file.changed', repo: REPO, at: at(1000), path: 'src/a.rs', origin: 'user', data: {} },
      { type: 'git.commit', repo: REPO, at: at(1100), origin: 'user', data: { branch: 'main', from: 'p0', to: 'sha-a', message: 'A' } },
    ]);
    const decisionId = recordDecision(db, {
      repo: REPO,
      at: 1500,
      source: 'ambient',
      eventIds: [saved!.id, commit!.id],
      stage: 'action',
      outcome: 'act',
      why,
      costMicro: 1,
      contentHash: 'h',
      looked: true,
    });
    db.close();
    const commits: ReplayedCommit[] = [
      { index: 0, day: 0, sha: 'A', replayedSha: 'sha-a', writtenAt: 1000, paths: ['src/a.rs'], act: true, repairIndex: 1 },
      { index: 1, day: 0, sha: 'B', replayedSha: 'sha-b', writtenAt: 2000, paths: ['src/a.rs'], act: false },
    ];
    const owners = new PathOwners();
    for (const c of commits) owners.record(c.index, c.paths, c.writtenAt);
    const looks: OracleLook[] = answeredAt === undefined ? [] : [{ at: answeredAt, actOn: 0 }];
    const marks = [{ date: 'd1', eventId: commit!.id, decisionId, taskId: 0, spentMicro: 0, triageRequests: 1, leftParked: 0 }];
    return observe(file, commits, owners, marks, looks);
  } finally {
    tmp.cleanup();
  }
}

test('a look answered before the repair landed reached the act-labelled commit, in time', () => {
  const r = scenario(1600, 'look 1: A: repaired by B');
  assert.equal(r.reach.get(0), 'in time');
  assert.deepEqual([r.days[0]!.tp, r.days[0]!.fn, r.days[0]!.actDecisionsUnlabelled], [1, 0, 0]);
});

test("a look answered after the repair landed was about the repair: the act-labelled commit is missed, whatever the events' times", () => {
  const r = scenario(2500, 'look 1: A: repaired by B');
  assert.equal(r.reach.get(0), 'missed');
  assert.deepEqual([r.days[0]!.tp, r.days[0]!.fn, r.days[0]!.actDecisionsUnlabelled], [0, 1, 1]);
  assert.equal(r.days[0]!.commitsSeenByModel, 1, 'the model saw B, not A');
});

test("a decision the oracle did not number is attributed at the decision's own time", () => {
  const r = scenario(undefined, 'a fix is needed');
  assert.equal(r.reach.get(0), 'in time');
});
