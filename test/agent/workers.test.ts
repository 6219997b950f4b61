import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { createModelClient } from '../../src/model/client.js';
import { loadPriceTable } from '../../src/model/prices.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { trustRepo } from '../../src/policy/trust.js';
import { detectSandbox } from '../../src/policy/sandbox.js';
import { runAgentTask, type AgentTaskResult } from '../../src/agent/task.js';
import { startFakeAnthropic, type FakeAnthropic, type RecordedRequest, type Reply } from '../support/fake-anthropic.js';
import { makeRepo, type TestRepo } from '../support/git-repo.js';

/**
 * Coordinated workers end to end: runAgentTask with the real SDK against the fake Messages API, a
 * real git repository, real worktrees and a real SQLite ledger. Workers run in parallel, so replies
 * are routed by who is asking (the first user message) and how far along it is (assistant turns).
 */

let fake: FakeAnthropic;
let root: string;
before(async () => {
  fake = await startFakeAnthropic();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-workers-'));
});
after(async () => {
  await fake.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const tool = (name: string, input: Record<string, unknown>, usage?: { output_tokens: number }): Reply => ({
  content: [{ type: 'tool_use', name, input }],
  stop_reason: 'tool_use',
  ...(usage ? { usage } : {}),
});

type Script = Record<string, (turn: number) => Reply>;

/** Routes each request to the script whose key starts its first user message. */
function route(script: Script): (req: RecordedRequest) => Reply {
  return (req) => {
    const first = req.body?.messages?.[0]?.content;
    const text = typeof first === 'string' ? first : JSON.stringify(first);
    const turn = (req.body?.messages ?? []).filter((m: { role: string }) => m.role === 'assistant').length;
    for (const [key, reply] of Object.entries(script)) if (text.startsWith(key)) return reply(turn);
    return { text: `unrouted request: ${text.slice(0, 80)}` };
  };
}

let n = 0;
interface Setup {
  db: Db;
  home: string;
  repo: TestRepo;
  notified: string[];
  run(policyYaml: string, instruction: string): Promise<AgentTaskResult>;
}

function setup(): Setup {
  const home = path.join(root, `home${++n}`);
  fs.mkdirSync(home, { recursive: true });
  const db = openDb(path.join(home, 'kairos.db'));
  const repo = makeRepo();
  repo.commit('two files', { 'a.txt': 'a: broken\n', 'b.txt': 'b: broken\n' });
  trustRepo(db, repo.dir);
  const notified: string[] = [];
  return {
    db,
    home,
    repo,
    notified,
    run: async (policyYaml, instruction) => {
      const policy = parsePolicyText(policyYaml, 'test.yaml');
      const model = createModelClient({ db, budget: policy.budget, models: policy.models, apiKey: 'sk-ant-test', baseURL: fake.url, prices: loadPriceTable(), sleep: async () => {} });
      return runAgentTask(
        { taskId: 1, repo: repo.dir, trigger: 'tests', instruction, context: 'two files are broken', policy },
        {
          db,
          home,
          model,
          sandbox: detectSandbox(),
          log: { debug() {}, info() {}, warn() {}, error() {} },
          notify: (m) => notified.push(m),
          limits: { maxTurns: 6, maxTokens: 4096 },
        },
      );
    },
  };
}

const POLICY = `
permissions:
  allow: ["Edit", "Write", "Read"]
budget: { task_usd: 1, day_usd: 10 }
models: { act: claude-haiku-4-5, triage: claude-haiku-4-5 }
`;

function kairosBranches(repo: TestRepo): string[] {
  const out: string[] = [];
  const refs = path.join(repo.dir, '.git', 'refs', 'heads', 'kairos');
  if (fs.existsSync(refs)) out.push(...fs.readdirSync(refs));
  return out;
}

test('a coordinator splits into two parallel workers; their changes merge into one proposal', async () => {
  const s = setup();
  try {
    fake.setFallback(
      route({
        COORD: (turn) =>
          turn === 0
            ? tool('split', { tasks: [{ instruction: 'WORKER-A: fix a.txt', paths: ['a.txt'] }, { instruction: 'WORKER-B: fix b.txt' }] })
            : tool('propose', { summary: 'fixed a and b through two workers' }),
        'WORKER-A': (turn) => (turn === 0 ? tool('write_file', { path: 'a.txt', content: 'a: fixed\n' }) : tool('propose', { summary: 'a fixed' })),
        'WORKER-B': (turn) => (turn === 0 ? tool('edit_file', { path: 'b.txt', old: 'broken', new: 'fixed' }) : tool('propose', { summary: 'b fixed' })),
      }),
    );
    const r = await s.run(POLICY, 'COORD: fix both files');
    assert.equal(r.state, 'proposed', r.reason);
    if (r.state !== 'proposed') return;
    assert.deepEqual([...r.proposal.files].sort(), ['a.txt', 'b.txt']);
    const diff = r.proposal.diff.toString('utf8');
    assert.match(diff, /\+a: fixed/);
    assert.match(diff, /\+b: fixed/);
    assert.equal(r.workers?.length, 2);
    assert.deepEqual(
      r.workers!.map((w) => [w.id, w.outcome, w.files]),
      [
        ['1-w1', 'merged', ['a.txt']],
        ['1-w2', 'merged', ['b.txt']],
      ],
    );
    // One proposal, stored once; the workers' diffs were never stored.
    assert.equal((s.db.prepare('SELECT COUNT(*) AS c FROM proposals').get() as { c: number }).c, 1);
    // The coordinator was told what its workers did.
    assert.ok(fake.rawBodies.some((b) => b.includes('1-w1 merged') && b.includes('1-w2 merged')));
    // The task's cost includes its workers', whose rows are keyed by their own ids.
    const rows = s.db.prepare(`SELECT task_id, SUM(cost_micro) AS c FROM spend_reservations WHERE state = 'settled' GROUP BY task_id ORDER BY task_id`).all() as Array<{ task_id: string; c: number }>;
    assert.deepEqual(rows.map((x) => x.task_id), ['1', '1-w1', '1-w2']);
    assert.equal(r.costMicro, rows.reduce((a, x) => a + x.c, 0));
    // The user's tree is untouched, and no worktree or branch is left behind.
    assert.equal(fs.readFileSync(path.join(s.repo.dir, 'a.txt'), 'utf8'), 'a: broken\n');
    assert.deepEqual(kairosBranches(s.repo), []);
  } finally {
    s.repo.cleanup();
  }
});

test("two workers that try to overspend are stopped at their slices; coordinator + workers never exceed task_usd", async () => {
  const s = setup();
  try {
    // Every worker reply claims the whole max_tokens of output, and workers never finish on their own.
    const greedy = (file: string) => () => tool('read_file', { path: file }, { output_tokens: 1_000_000 });
    fake.setFallback(
      route({
        COORD: (turn) =>
          turn === 0
            ? tool('split', { tasks: [{ instruction: 'WORKER-A: look at a.txt' }, { instruction: 'WORKER-B: look at b.txt' }] })
            : tool('propose', { summary: 'should not get here: no budget left' }, { output_tokens: 1_000_000 }),
        'WORKER-A': greedy('a.txt'),
        'WORKER-B': greedy('b.txt'),
      }),
    );
    const TASK_MICRO = 100_000;
    const r = await s.run(POLICY.replace('task_usd: 1', 'task_usd: 0.1'), 'COORD: look at both files');

    const caps = s.db.prepare('SELECT task_id, cap_micro, parent_task_id FROM spend_task_caps ORDER BY task_id').all() as Array<{ task_id: string; cap_micro: number; parent_task_id: string }>;
    assert.deepEqual(caps.map((c) => [c.task_id, c.parent_task_id]), [
      ['1-w1', '1'],
      ['1-w2', '1'],
    ]);
    const spent = (id: string): number =>
      (s.db.prepare(`SELECT COALESCE(SUM(cost_micro), 0) AS c FROM spend_reservations WHERE task_id = ? AND state != 'released'`).get(id) as { c: number }).c;
    const coordinatorBefore = (s.db.prepare(`SELECT cost_micro FROM spend_reservations WHERE task_id = '1' ORDER BY id LIMIT 1`).get() as { cost_micro: number }).cost_micro;
    // The slices were carved from what the coordinator had left when it split.
    assert.ok(caps[0]!.cap_micro + caps[1]!.cap_micro <= TASK_MICRO - coordinatorBefore);
    for (const c of caps) {
      assert.ok(spent(c.task_id) > 0, `${c.task_id} made calls`);
      assert.ok(spent(c.task_id) <= c.cap_micro, `${c.task_id} spent ${spent(c.task_id)} over its slice ${c.cap_micro}`);
    }
    // Each worker was refused by the ledger at its slice (the 100 % crossing of its own task window).
    const refusedAt = s.db.prepare(`SELECT window_key FROM spend_thresholds WHERE cap = 'task' AND percent = 100 ORDER BY window_key`).all() as Array<{ window_key: string }>;
    for (const id of ['1-w1', '1-w2']) assert.ok(refusedAt.some((x) => x.window_key === id), `no refusal recorded for ${id}: ${JSON.stringify(refusedAt)}`);
    assert.ok(r.workers?.every((w) => w.outcome === 'failed' && /task cap/.test(w.reason)), JSON.stringify(r.workers));

    // The invariant, by SQL over every ledger row of the coordinator and its workers.
    const total = (s.db.prepare(`SELECT COALESCE(SUM(cost_micro), 0) AS c FROM spend_reservations WHERE task_id IN ('1', '1-w1', '1-w2') AND state != 'released'`).get() as { c: number }).c;
    assert.ok(total <= TASK_MICRO, `coordinator + workers spent ${total} µ$ > task_usd ${TASK_MICRO}`);
    // After the split the coordinator's own cap counts its workers: its next call did not fit.
    assert.equal(r.state, 'failed');
    assert.match(r.reason, /task cap/);
    assert.equal((s.db.prepare('SELECT COUNT(*) AS c FROM proposals').get() as { c: number }).c, 0);
    assert.deepEqual(kairosBranches(s.repo), []);
  } finally {
    s.repo.cleanup();
  }
});

test('a worker cannot split or notify: it is not offered them and is refused when it names them', async () => {
  const s = setup();
  try {
    fake.setFallback(
      route({
        COORD: (turn) => (turn === 0 ? tool('split', { tasks: [{ instruction: 'WORKER-A: fix a.txt' }] }) : tool('sleep', { reason: 'nothing merged' })),
        'WORKER-A': (turn) =>
          turn === 0
            ? {
                content: [
                  { type: 'tool_use', name: 'split', input: { tasks: [{ instruction: 'WORKER-NESTED: more' }] } },
                  { type: 'tool_use', name: 'notify', input: { message: 'approve me please' } },
                ],
                stop_reason: 'tool_use',
              }
            : tool('sleep', { reason: 'could not split' }),
        'WORKER-NESTED': () => tool('sleep', { reason: 'a nested worker must never run' }),
      }),
    );
    const before = fake.messageRequests().length;
    const r = await s.run(POLICY, 'COORD: fix a');
    const reqs = fake.messageRequests().slice(before);
    const workerReqs = reqs.filter((q) => String(q.body.messages[0].content).startsWith('WORKER-A'));
    assert.ok(workerReqs.length >= 2);
    for (const q of workerReqs) {
      const names = (q.body.tools as Array<{ name: string }>).map((t) => t.name);
      assert.ok(!names.includes('split') && !names.includes('notify'), `worker was offered ${names.join(', ')}`);
    }
    const coordNames = (reqs.find((q) => String(q.body.messages[0].content).startsWith('COORD'))!.body.tools as Array<{ name: string }>).map((t) => t.name);
    assert.ok(coordNames.includes('split') && coordNames.includes('notify'));
    // Both calls came back as errors the worker saw.
    const results = JSON.stringify(workerReqs[1]!.body.messages.at(-1).content);
    assert.match(results, /refused: a worker cannot use split/);
    assert.match(results, /refused: a worker cannot use notify/);
    assert.match(results, /"is_error":true/);
    // Nothing nested ran, nothing reached the human, nothing was queued.
    assert.ok(!reqs.some((q) => String(q.body.messages[0].content).startsWith('WORKER-NESTED')));
    assert.deepEqual(s.notified, []);
    assert.equal((s.db.prepare('SELECT COUNT(*) AS c FROM approvals').get() as { c: number }).c, 0);
    assert.equal((s.db.prepare('SELECT COUNT(*) AS c FROM spend_task_caps').get() as { c: number }).c, 1);
    assert.equal(r.state, 'done');
    assert.equal(r.workers?.[0]?.outcome, 'slept');
  } finally {
    s.repo.cleanup();
  }
});

test('a split asking for more parts than workers.max is refused without starting any worker', async () => {
  const s = setup();
  try {
    fake.setFallback(
      route({
        COORD: (turn) =>
          turn === 0
            ? tool('split', { tasks: [{ instruction: 'WORKER-A: 1' }, { instruction: 'WORKER-A: 2' }, { instruction: 'WORKER-A: 3' }] })
            : tool('sleep', { reason: 'split refused' }),
        'WORKER-A': () => tool('sleep', { reason: 'must not run' }),
      }),
    );
    const before = fake.messageRequests().length;
    const r = await s.run(POLICY + 'workers: { max: 2 }\n', 'COORD: three parts');
    const reqs = fake.messageRequests().slice(before);
    assert.ok(!reqs.some((q) => String(q.body.messages[0].content).startsWith('WORKER-A')));
    assert.match(JSON.stringify(reqs.at(-1)!.body.messages.at(-1).content), /not split: 3 parts asked, at most 2/);
    assert.equal(r.state, 'done');
    assert.equal(r.workers, undefined);
  } finally {
    s.repo.cleanup();
  }
});

test('two workers changing the same line: the second is merged with conflict markers and the coordinator is told', async () => {
  const s = setup();
  try {
    fake.setFallback(
      route({
        COORD: (turn) =>
          turn === 0
            ? tool('split', { tasks: [{ instruction: 'WORKER-A: fix a.txt one way' }, { instruction: 'WORKER-B: fix a.txt another way' }] })
            : tool('propose', { summary: 'merged' }),
        'WORKER-A': (turn) => (turn === 0 ? tool('write_file', { path: 'a.txt', content: 'a: fixed by A\n' }) : tool('propose', { summary: 'A' })),
        'WORKER-B': (turn) => (turn === 0 ? tool('write_file', { path: 'a.txt', content: 'a: fixed by B\n' }) : tool('propose', { summary: 'B' })),
      }),
    );
    const r = await s.run(POLICY, 'COORD: conflicting parts');
    assert.deepEqual(
      r.workers?.map((w) => [w.id, w.outcome, w.conflicts]),
      [
        ['1-w1', 'merged', []],
        ['1-w2', 'conflict', ['a.txt']],
      ],
      // Seen once in CI (1-w2 'failed'): say why, so a recurrence can be told apart.
      `workers' reasons: ${JSON.stringify(r.workers?.map((w) => [w.id, w.reason]))}`,
    );
    assert.ok(fake.rawBodies.some((b) => b.includes('CONFLICTS in a.txt')));
    assert.equal(r.state, 'proposed');
    if (r.state === 'proposed') assert.match(r.proposal.diff.toString('utf8'), /<<<<<<<[\s\S]*fixed by A[\s\S]*fixed by B/);
  } finally {
    s.repo.cleanup();
  }
});

test("a worker whose tree carries what a proposal may not (a driver-selecting .gitattributes) fails with the reason, and nothing of it is merged", async () => {
  const s = setup();
  try {
    fake.setFallback(
      route({
        COORD: (turn) => (turn === 0 ? tool('split', { tasks: [{ instruction: 'WORKER-A: fix a.txt' }] }) : tool('propose', { summary: 'after the worker' })),
        'WORKER-A': (turn) =>
          turn === 0
            ? { content: [{ type: 'tool_use', name: 'write_file', input: { path: 'a.txt', content: 'a: fixed by A\n' } }, { type: 'tool_use', name: 'write_file', input: { path: '.gitattributes', content: '* filter=x\n' } }], stop_reason: 'tool_use' }
            : tool('propose', { summary: 'A' }),
      }),
    );
    const r = await s.run(POLICY, 'COORD: one part');
    assert.deepEqual(r.workers?.map((w) => [w.id, w.outcome]), [['1-w1', 'failed']]);
    assert.match(r.workers![0]!.reason, /proposal refused, nothing was proposed: '\.gitattributes' selects a filter, diff or merge driver/);
    assert.notEqual(r.state, 'proposed', 'nothing of the worker reached a proposal');
  } finally {
    s.repo.cleanup();
  }
});
