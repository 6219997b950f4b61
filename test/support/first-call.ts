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
import { repoKey } from '../../src/agent/worktree.js';
import { startFakeAnthropic, type FakeAnthropic, type RecordedRequest, type Reply } from './fake-anthropic.js';
import { makeSizedRepo } from './sized-repo.js';
import type { TestRepo } from './git-repo.js';

/**
 * What the time-to-first-call tests share (issue 13 item 5): runAgentTask with the real SDK against
 * the fake Messages API, real repositories, real worktrees and a real SQLite ledger. The lazy-versus-
 * eager scenario lives here because it runs twice: on a small repository in the unit suite
 * (test/agent/first-call.test.ts) and on 20,000 files in the full one (first-call-large.test.ts).
 */

export interface Home {
  home: string;
  db: Db;
}

export const tool = (...uses: Array<[string, Record<string, unknown>]>): Reply => ({
  content: uses.map(([name, input]) => ({ type: 'tool_use' as const, name, input })),
  stop_reason: 'tool_use',
});
export const assistantTurns = (req: RecordedRequest): number => (req.body?.messages ?? []).filter((m: { role: string }) => m.role === 'assistant').length;
/** The text of the tool results the request carries last (what the previous turn's tools answered). */
export const lastResults = (req: RecordedRequest): string => JSON.stringify(req.body?.messages?.at(-1)?.content ?? '');

export const POLICY = `
permissions:
  allow: ["Edit", "Write", "Read"]
budget: { task_usd: 5, day_usd: 50 }
models: { act: claude-haiku-4-5, triage: claude-haiku-4-5 }
`;

export const worktreeDir = (h: { home: string }, repo: TestRepo, taskId: number): string => path.join(h.home, 'worktrees', repoKey(repo.dir), String(taskId));

export interface FirstCallHarness {
  fake: FakeAnthropic;
  /** A fresh Kairos home with its own SQLite database. */
  home(): Home;
  run(h: Home, repo: TestRepo, taskId: number, policyYaml: string, worktree?: 'lazy' | 'eager'): Promise<AgentTaskResult>;
  close(): Promise<void>;
}

export async function startFirstCallHarness(): Promise<FirstCallHarness> {
  const fake = await startFakeAnthropic();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-firstcall-'));
  let homes = 0;
  return {
    fake,
    home() {
      const h = path.join(root, `home${++homes}`);
      fs.mkdirSync(h, { recursive: true });
      return { home: h, db: openDb(path.join(h, 'kairos.db')) };
    },
    run(h, repo, taskId, policyYaml, worktree) {
      const policy = parsePolicyText(policyYaml, 'test.yaml');
      const model = createModelClient({ db: h.db, budget: policy.budget, models: policy.models, apiKey: 'sk-ant-test', baseURL: fake.url, prices: loadPriceTable(), sleep: async () => {} });
      return runAgentTask(
        { taskId, repo: repo.dir, trigger: 'ask', instruction: 'Set value0 to 42 and add src/new.ts.', context: 'asked by the user', policy },
        {
          db: h.db,
          home: h.home,
          model,
          sandbox: detectSandbox(),
          log: { debug() {}, info() {}, warn() {}, error() {} },
          notify: () => {},
          limits: { maxTurns: 6, maxTokens: 4096 },
          ...(worktree ? { worktree } : {}),
        },
      );
    },
    async close() {
      await fake.close();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * On a repository of `files` files: the first request leaves before any worktree exists; reads see
 * the base (with the user's uncommitted edit), edits materialise the worktree, and the proposal equals
 * the eager path's byte for byte. What is asserted is order, not time.
 */
export async function lazyMatchesEager(harness: FirstCallHarness, files: number): Promise<void> {
  const { fake } = harness;
  const last = files - 1;
  const lastDir = `src/d${Math.floor(last / 100)}`;
  const repo = makeSizedRepo(files);
  try {
    // Uncommitted work of the user's: the base carries it, so the agent must read it.
    repo.write('src/d0/f0.ts', 'export const value0 = 0; // the user is mid-edit\n');
    const h = harness.home();
    trustRepo(h.db, repo.dir);
    const seen: Array<{ task: number; turn: number; worktreeExists: boolean; results: string }> = [];
    let task = 0;
    fake.reset();
    fake.setFallback((req) => {
      const turn = assistantTurns(req);
      seen.push({ task, turn, worktreeExists: fs.existsSync(worktreeDir(h, repo, task)), results: lastResults(req) });
      if (turn === 0) return tool(['read_file', { path: 'src/d0/f0.ts' }], ['grep', { pattern: `value${last} =` }], ['list_files', { pattern: `${lastDir}/*` }]);
      if (turn === 1) return tool(['edit_file', { path: 'src/d0/f0.ts', old: 'value0 = 0;', new: 'value0 = 42;' }], ['write_file', { path: 'src/new.ts', content: 'export const added = true;\n' }]);
      return tool(['propose', { summary: 'value0 is 42; src/new.ts added' }]);
    });

    task = 1;
    const lazy = await harness.run(h, repo, 1, POLICY);
    assert.equal(lazy.state, 'proposed', lazy.reason);
    const lazyTurns = seen.filter((s) => s.task === 1);
    assert.equal(lazyTurns[0]!.turn, 0);
    assert.equal(lazyTurns[0]!.worktreeExists, false, 'the first request reached the server before the worktree existed');
    // Turn 2's request carries what the reads answered from the base (before any worktree existed).
    assert.equal(lazyTurns[1]!.worktreeExists, false, 'reads alone never make the worktree');
    assert.match(lazyTurns[1]!.results, /the user is mid-edit/);
    assert.ok(lazyTurns[1]!.results.includes(`${lastDir}/f${last % 100}.ts:1:export const value${last} = ${last};`), lazyTurns[1]!.results);
    assert.ok(lazyTurns[1]!.results.includes(`${lastDir}/f0.ts`), lazyTurns[1]!.results);
    assert.equal(lazyTurns[2]!.worktreeExists, true, 'the edits made the worktree');
    assert.doesNotMatch(lazyTurns[2]!.results, /is_error":true/);
    // One round trip per turn: no count_tokens far from the caps.
    assert.deepEqual(
      fake.requests.map((r) => r.path),
      ['/v1/messages', '/v1/messages', '/v1/messages'],
    );
    assert.equal(fs.existsSync(worktreeDir(h, repo, 1)), false, 'the worktree is removed at the end');

    // The old path, same script, same repository state: the same proposal, byte for byte.
    fake.requests.length = 0;
    task = 2;
    const eager = await harness.run(h, repo, 2, POLICY, 'eager');
    assert.equal(eager.state, 'proposed', eager.reason);
    assert.equal(seen.find((s) => s.task === 2)!.worktreeExists, true, 'the eager path makes the worktree before the first request');
    if (lazy.state !== 'proposed' || eager.state !== 'proposed') return;
    assert.equal(lazy.proposal.hash, eager.proposal.hash);
    assert.deepEqual(lazy.proposal.files, eager.proposal.files);
    assert.match(lazy.proposal.diff.toString('utf8'), /\+export const value0 = 42; \/\/ the user is mid-edit/);
    // The user's tree is untouched by either.
    assert.equal(fs.readFileSync(path.join(repo.dir, 'src/d0/f0.ts'), 'utf8'), 'export const value0 = 0; // the user is mid-edit\n');
    assert.equal(fs.existsSync(path.join(repo.dir, 'src/new.ts')), false);
  } finally {
    repo.cleanup();
  }
}
