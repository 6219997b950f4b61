import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { openDb } from '../src/store/db.js';
import { createModelClient, type ModelClient } from '../src/model/client.js';
import { loadPriceTable } from '../src/model/prices.js';
import { parsePolicyText } from '../src/policy/load.js';
import { trustRepo } from '../src/policy/trust.js';
import { detectSandbox } from '../src/policy/sandbox.js';
import { runAgentTask } from '../src/agent/task.js';
import { startFakeAnthropic, type Reply } from '../test/support/fake-anthropic.js';
import type { ServerStats } from './first-call-server.js';
import { makeSizedRepo } from '../test/support/sized-repo.js';
import type { TestRepo } from '../test/support/git-repo.js';

/**
 * Time to the first model request of an `ask:` task, and requests per turn, on a 100-file and a
 * 20,000-file repository (issue 13 item 5). Each size runs three paths side by side in the same run:
 *
 *   now     lazy worktree (reads from the base), one request per turn (input bound, no count_tokens)
 *   eager   the worktree made before the first request (AgentTaskDeps.worktree = 'eager')
 *   old     eager and count_tokens before every turn (the model client without the loop's bound),
 *           which is how main worked before this change
 *
 * Every task is two turns (read a file, then edit it), through runAgentTask, the real SDK and the
 * fake Messages API; t = 0 is the runAgentTask call, the first request is stamped by the server on
 * its arrival. The server runs in a process of its own (bench/first-call-server.ts), as the real API
 * does; `--server inprocess` runs it in the bench's process instead (its stamp then also waits for
 * whatever blocks the task's event loop right after the request left, such as a git spawn).
 * The uncommitted change in the tree makes every path snapshot the user's dirty state first.
 *
 *   node dist/bench/first-call.js [--runs N] [--sizes 100,20000] [--server child|inprocess]
 */

interface PathResult {
  firstRequestMs: number;
  requests: number;
  turns: number;
  totalMs: number;
}

type Mode = 'now' | 'eager' | 'old';

const POLICY = parsePolicyText(
  `
permissions:
  allow: ["Edit", "Write", "Read"]
budget: { task_usd: 5, day_usd: 500 }
models: { act: claude-haiku-4-5, triage: claude-haiku-4-5 }
`,
  'bench.yaml',
);

function withoutBound(model: ModelClient): ModelClient {
  return Object.assign(Object.create(model) as ModelClient, { call: (req: Parameters<ModelClient['call']>[0]) => model.call({ ...req, inputTokensBound: undefined }) });
}

/** A two-turn task, the same in every path: read a file, edit it, propose. */
export function scriptedTurn(turn: number): Reply {
  if (turn === 0) return { content: [{ type: 'tool_use', name: 'read_file', input: { path: 'src/d0/f0.ts' } }], stop_reason: 'tool_use' };
  if (turn === 1) return { content: [{ type: 'tool_use', name: 'edit_file', input: { path: 'src/d0/f0.ts', old: 'value0 = 0;', new: 'value0 = 42;' } }], stop_reason: 'tool_use' };
  return { content: [{ type: 'tool_use', name: 'propose', input: { summary: 'value0 is 42' } }], stop_reason: 'tool_use' };
}

/** The fake Messages API as the bench drives it; times are epoch ms (timeOrigin + now). */
interface BenchServer {
  url: string;
  reset(): Promise<void>;
  stats(): Promise<ServerStats>;
  close(): Promise<void>;
}

const epochNow = (): number => performance.timeOrigin + performance.now();

async function inProcessServer(): Promise<BenchServer> {
  const fake = await startFakeAnthropic();
  let first: number | undefined;
  fake.setFallback((req): Reply => {
    first ??= epochNow();
    return scriptedTurn((req.body?.messages ?? []).filter((m: { role: string }) => m.role === 'assistant').length);
  });
  return {
    url: fake.url,
    reset: async () => {
      fake.reset();
      first = undefined;
    },
    stats: async () => ({ first, requests: fake.requests.length, messageRequests: fake.messageRequests().length }),
    close: () => fake.close(),
  };
}

async function childServer(): Promise<BenchServer> {
  const child = fork(new URL('./first-call-server.js', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = (): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the bench's fake API exited (code ${code})`));
      child.once('exit', onExit);
      child.once('message', (m) => {
        child.off('exit', onExit);
        resolve(m);
      });
    });
  const { url } = (await next()) as { url: string };
  const ask = async (m: string): Promise<unknown> => {
    const answer = next();
    child.send(m);
    return answer;
  };
  return {
    url,
    reset: async () => void (await ask('reset')),
    stats: async () => (await ask('stats')) as ServerStats,
    close: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.disconnect();
      await exited;
    },
  };
}

async function runOnce(server: BenchServer, repo: TestRepo, home: string, taskId: number, mode: Mode): Promise<PathResult> {
  const db = openDb(path.join(home, 'kairos.db'));
  try {
    trustRepo(db, repo.dir);
    await server.reset();
    const client = createModelClient({ db, budget: POLICY.budget, models: POLICY.models, apiKey: 'sk-ant-bench', baseURL: server.url, prices: loadPriceTable(), sleep: async () => {} });
    const t0 = epochNow();
    const r = await runAgentTask(
      { taskId, repo: repo.dir, trigger: 'ask', instruction: 'Set value0 to 42.', context: 'asked by the user', policy: POLICY },
      {
        db,
        home,
        model: mode === 'old' ? withoutBound(client) : client,
        sandbox: detectSandbox(),
        log: { debug() {}, info() {}, warn() {}, error() {} },
        notify: () => {},
        limits: { maxTurns: 6, maxTokens: 4096 },
        worktree: mode === 'now' ? 'lazy' : 'eager',
      },
    );
    const totalMs = epochNow() - t0;
    if (r.state !== 'proposed') throw new Error(`${mode}: the task ended ${r.state}: ${r.reason}`);
    const stats = await server.stats();
    return { firstRequestMs: (stats.first ?? NaN) - t0, requests: stats.requests, turns: stats.messageRequests, totalMs };
  } finally {
    db.close();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number): string => `${x.toFixed(x < 100 ? 1 : 0)} ms`;

export async function benchFirstCall(opts: { runs: number; sizes: number[]; server?: 'child' | 'inprocess' }): Promise<string[]> {
  const fake = opts.server === 'inprocess' ? await inProcessServer() : await childServer();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-bench-firstcall-'));
  const lines: string[] = [];
  let taskId = 0;
  try {
    lines.push(`time to the first model request and requests per turn (median of ${opts.runs}; two-turn ask task: read, edit, propose; fake API ${opts.server === 'inprocess' ? 'in the bench process' : 'in its own process'})`);
    lines.push(`${'files'.padStart(7)}  ${'path'.padEnd(6)} ${'first request'.padStart(14)} ${'req/turn'.padStart(9)} ${'whole task'.padStart(11)}   old first request / this one`);
    for (const size of opts.sizes) {
      const repo = makeSizedRepo(size, 'kairos-bench-firstcall-');
      repo.write('src/d0/f0.ts', 'export const value0 = 0; // uncommitted\n');
      try {
        const results = new Map<Mode, PathResult[]>();
        // A warm-up task, not counted: the SDK's import and the first SQLite open happen once per process.
        const warm = path.join(root, `h${++taskId}`);
        fs.mkdirSync(warm);
        await runOnce(fake, repo, warm, taskId, 'now');
        for (let i = 0; i < opts.runs; i++) {
          // Interleaved, so the machine's load falls on every path alike.
          for (const mode of ['now', 'eager', 'old'] as const) {
            const home = path.join(root, `h${++taskId}`);
            fs.mkdirSync(home);
            const r = await runOnce(fake, repo, home, taskId, mode);
            results.set(mode, [...(results.get(mode) ?? []), r]);
          }
        }
        const old = median(results.get('old')!.map((r) => r.firstRequestMs));
        for (const mode of ['now', 'eager', 'old'] as const) {
          const rs = results.get(mode)!;
          const first = median(rs.map((r) => r.firstRequestMs));
          const perTurn = median(rs.map((r) => r.requests / r.turns));
          const total = median(rs.map((r) => r.totalMs));
          lines.push(`${String(size).padStart(7)}  ${mode.padEnd(6)} ${ms(first).padStart(14)} ${perTurn.toFixed(2).padStart(9)} ${ms(total).padStart(11)}   ${(old / first).toFixed(1)}×`);
        }
        const now = median(results.get('now')!.map((r) => r.firstRequestMs));
        lines.push(`${''.padStart(7)}  target: first request within 100 ms at any size: ${now <= 100 ? 'PASS' : 'FAIL'} (${ms(now)}); one request per turn: ${median(results.get('now')!.map((r) => r.requests / r.turns)) === 1 ? 'PASS' : 'FAIL'}`);
      } finally {
        repo.cleanup();
      }
    }
  } finally {
    await fake.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
  return lines;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const runs = Number(arg('runs') ?? 3);
  const sizes = (arg('sizes') ?? '100,20000').split(',').map(Number);
  const server = arg('server') ?? 'child';
  if (server !== 'child' && server !== 'inprocess') throw new Error(`--server ${server}: use child or inprocess`);
  for (const line of await benchFirstCall({ runs, sizes, server })) console.log(line);
}
