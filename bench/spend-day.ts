import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type Anthropic from '@anthropic-ai/sdk';
import { openDb } from '../src/store/db.js';
import { createModelClient } from '../src/model/client.js';
import { cachedSystem } from '../src/model/cache.js';
import { costMicro, formatUsd, loadPriceTable, priceFor } from '../src/model/prices.js';
import { spendReport } from '../src/model/spend-report.js';
import { startFakeAnthropic, type Reply } from '../test/support/fake-anthropic.js';
import { seededRandom as rng } from '../test/support/seeded-random.js';

/**
 * A scripted working day against the fake Messages API, through the real client and ledger:
 * 500 saves (settled into bursts) and 20 commits from 09:00 to 17:00. A settled burst goes to the
 * triage model when the rules flag something (~40 %); ~15 % of triages escalate to the act model
 * for a 3-turn tool loop; every commit gets a triage review, and a quarter of those an act turn.
 * 3 % of replies are 529s. Prints calls, dollars, cache-read share, and the same traffic priced
 * without prompt caching (the baseline).
 */


export interface DayResult {
  saves: number;
  commits: number;
  batches: number;
  triageCalls: number;
  actCalls: number;
  apiRequests: number;
  spentMicro: number;
  uncachedMicro: number;
  cacheReadShare: number;
  wallMs: number;
}

export async function runDay(seed = 1): Promise<DayResult> {
  const started = performance.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-bench-spend-'));
  const fake = await startFakeAnthropic();
  const rnd = rng(seed);
  const prices = loadPriceTable();
  const models = { triage: 'claude-haiku-4-5', act: 'claude-sonnet-4-6' };
  const budget = { day_usd: 5, month_usd: 60 };
  let t = new Date(2026, 10, 24, 9, 0, 0).getTime();
  const db = openDb(path.join(dir, 'kairos.db'));
  const client = createModelClient({
    db,
    budget,
    models,
    apiKey: 'sk-bench',
    baseURL: fake.url,
    prices,
    clock: () => t,
    sleep: async (ms) => {
      t += ms;
    },
  });
  fake.setFallback((req): Reply => {
    if (rnd() < 0.03) return { status: 529 };
    const isAct = req.body?.model === models.act;
    const turn = Array.isArray(req.body?.messages) ? req.body.messages.length : 1;
    if (isAct && turn < 5)
      return { content: [{ type: 'tool_use', name: 'read_file', input: { path: `src/m${turn}.ts` } }], usage: { output_tokens: 120 } };
    return { text: isAct ? 'Patch proposed.' : 'Nothing to do.', usage: { output_tokens: isAct ? 600 : 150 } };
  });

  const system = cachedSystem({
    system: 'You are Kairos, an ambient coding assistant. Follow the policy. Be brief. '.repeat(40),
    policySummary: 'Policy: run tests on save; never push; ask before editing outside src/. '.repeat(30),
    repoSummary: 'Repository: TypeScript service, 120 modules, vitest, eslint, strict tsconfig. '.repeat(60),
  });
  const tools: Anthropic.Tool[] = [
    { name: 'read_file', description: 'Read a file in the worktree', input_schema: { type: 'object', properties: { path: { type: 'string' } } } },
  ];
  let triageCalls = 0;
  let actCalls = 0;

  const act = async (task: string, trigger: string): Promise<void> => {
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: task }];
    for (let turn = 0; turn < 4; turn++) {
      const out = await client.call({ model: models.act, system, messages, tools, max_tokens: 2000, purpose: 'ambient', trigger, taskId: task.slice(0, 24) });
      actCalls++;
      if (out.status !== 'ok') return;
      const use = out.message.content.find((b) => b.type === 'tool_use');
      if (!use || use.type !== 'tool_use') return;
      messages.push({ role: 'assistant', content: out.message.content as never });
      messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'x'.repeat(2000) }] });
    }
  };
  const triage = async (summary: string, trigger: string): Promise<boolean> => {
    const out = await client.call({ model: models.triage, system, messages: [{ role: 'user', content: summary }], max_tokens: 300, purpose: 'ambient', trigger });
    triageCalls++;
    return out.status === 'ok' && rnd() < (trigger === 'commit' ? 0.25 : 0.15);
  };

  // 500 saves from 09:00 to 17:00, in bursts of 1-9 saves that settle into one batch.
  const end = new Date(2026, 10, 24, 17, 0, 0).getTime();
  let saves = 0;
  let batches = 0;
  const commitAt = Array.from({ length: 20 }, (_, i) => t + Math.floor(((i + 0.5) / 20) * (end - t)));
  let nextCommit = 0;
  while (saves < 500) {
    const burst = Math.min(500 - saves, 1 + Math.floor(rnd() * 9));
    saves += burst;
    batches++;
    t += Math.floor(((end - t) / Math.max(1, (500 - saves) / 5 + 1)) * rnd() * 2);
    if (rnd() < 0.4) {
      const diff = `Batch ${batches}: ${burst} saves in src/; tests: ${rnd() < 0.5 ? '1 failing' : 'lint warning'}. ` + 'diff line\n'.repeat(80);
      if (await triage(diff, 'save')) await act(`Fix the problem found in batch ${batches}`, 'save');
    }
    while (nextCommit < commitAt.length && t >= commitAt[nextCommit]!) {
      nextCommit++;
      if (await triage(`Commit ${nextCommit}: review the change. ` + 'diff line\n'.repeat(150), 'commit')) await act(`Follow up commit ${nextCommit}`, 'commit');
    }
  }
  for (; nextCommit < commitAt.length; nextCommit++) {
    if (await triage(`Commit ${nextCommit + 1}: review. ` + 'diff line\n'.repeat(150), 'commit')) await act(`Follow up commit ${nextCommit + 1}`, 'commit');
  }

  const report = spendReport(db, budget, t);
  // Baseline: the same usage with every cached token billed as plain input.
  let uncachedMicro = 0;
  for (const b of fake.billed) {
    const u = b.usage;
    uncachedMicro += costMicro(priceFor(prices, b.model).rates, {
      input_tokens: u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens,
      output_tokens: u.output_tokens,
    });
  }
  const result: DayResult = {
    saves,
    commits: 20,
    batches,
    triageCalls,
    actCalls,
    apiRequests: fake.messageRequests().length,
    spentMicro: Math.round(report.day!.spent_usd * 1_000_000),
    uncachedMicro,
    cacheReadShare: report.cache_read_share,
    wallMs: Math.round(performance.now() - started),
  };
  db.close();
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return result;
}

export async function main(): Promise<void> {
  const r = await runDay();
  console.log('spend-day: a scripted day (500 saves, 20 commits) through the real client, ledger and SDK against the fake API');
  console.log(`  saves ${r.saves} in ${r.batches} settled batches, commits ${r.commits}`);
  console.log(`  model calls: triage ${r.triageCalls}, act ${r.actCalls} turns; API requests ${r.apiRequests} (retries included)`);
  console.log(`  spent ${formatUsd(r.spentMicro)}; baseline without prompt caching ${formatUsd(r.uncachedMicro)} (${Math.round((1 - r.spentMicro / r.uncachedMicro) * 100)} % saved)`);
  console.log(`  cache-read share of prompt tokens: ${(r.cacheReadShare * 100).toFixed(1)} %`);
  console.log(`  wall time ${r.wallMs} ms`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
