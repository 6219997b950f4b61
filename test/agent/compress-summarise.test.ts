import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import {
  compressConversation,
  CompressionBreaker,
  modelSummariser,
  pairingProblems,
  SUMMARY_MARKER,
  type BreakerState,
  type CompressOptions,
  type PostCompactInfo,
  type PreCompactInfo,
  type Summariser,
} from '../../src/agent/compress.js';
import { SUMMARY_SYSTEM } from '../../src/agent/compress/summarise.js';
import { createModelClient } from '../../src/model/client.js';
import { openDb } from '../../src/store/db.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { FakeClock } from '../support/fake-clock.js';
import { tempDir } from '../support/temp.js';
import { buildConversation, deepFreeze, numberedLines, read, resultText, type Message } from '../fixtures/transcripts/build.js';
import { generateTranscript, NEEDLES } from '../fixtures/transcripts/generate.js';
import { needleState } from '../fixtures/transcripts/needles.js';

const tmp = tempDir('kairos-compress-summarise-');
let fake: FakeAnthropic;
before(async () => {
  fake = await startFakeAnthropic();
});
after(async () => {
  await fake.close();
  tmp.cleanup();
});

const TASK = 'The tests failed after the last commit. Find the cause and propose a minimal fix.';
const GOOD = {
  goal: 'find why test/parse.test.ts fails and propose a fix',
  files_touched: ['src/f1.ts', 'src/config.ts'],
  findings: [NEEDLES.failingTest, NEEDLES.apiKeyEnv],
  open_questions: ['does the lexer handle CRLF?'],
  decisions: ['fix the lexer, not the test'],
};

/** 12 turns of ~600-token reads; turn 2's file holds the API-key needle (only in that tool result). */
function conversation(): Message[] {
  return deepFreeze(
    buildConversation(
      TASK,
      Array.from({ length: 12 }, (_, i) => ({
        text: i === 0 ? `Reading first. Note: ${NEEDLES.failingTest}.` : `turn ${i + 1}: reading the next file`,
        calls: [read(`src/f${i + 1}.ts`, `${i === 1 ? `// ${NEEDLES.apiKeyEnv}\n` : ''}${numberedLines(`f${i + 1}`, 30)}`)],
      })),
    ),
  );
}

/** threshold = 5000 * 1 - 1000 = 4000 tokens; the conversation is ~7.2k, its last 3 turns ~1.8k. Stage 3 keeps everything here. */
function opts(extra: Partial<CompressOptions> = {}): CompressOptions {
  return {
    spillDir: path.join(tmp.dir, 'spill'),
    contextWindow: 5_000,
    share: 1,
    outputReserve: 1_000,
    keepRecentTurns: 50,
    summaryKeepTurns: 3,
    ...extra,
  };
}

function recording(reply: (n: number) => string | Error, costMicros = 1234): Summariser & { prompts: Array<{ system: string; messages: Message[] }> } {
  const prompts: Array<{ system: string; messages: Message[] }> = [];
  const fn = (async (p) => {
    prompts.push(p);
    const r = reply(prompts.length);
    if (r instanceof Error) throw r;
    return { text: r, costMicros };
  }) as Summariser & { prompts: typeof prompts };
  fn.prompts = prompts;
  return fn;
}

function promptText(p: { messages: Message[] }): string {
  return p.messages.map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content))).join('\n');
}

describe('stage 4: summarise older turns', () => {
  test('under the threshold nothing is called and nothing changes', async () => {
    const input = conversation();
    const s = recording(() => JSON.stringify(GOOD));
    const hooks: string[] = [];
    const r = await compressConversation(input, opts({ contextWindow: 200_000, summarise: s, onPreCompact: () => void hooks.push('pre'), onPostCompact: () => void hooks.push('post') }));
    assert.deepEqual(r.messages, input);
    assert.equal(s.prompts.length, 0);
    assert.deepEqual(hooks, []);
    assert.equal(r.report.at(-1)?.outcome, 'under-threshold');
  });

  test('over the threshold, older turns become one summary message; the last turns stay verbatim', async () => {
    const input = conversation();
    const s = recording(() => `Here it is:\n\`\`\`json\n${JSON.stringify(GOOD)}\n\`\`\``);
    const pre: PreCompactInfo[] = [];
    const post: PostCompactInfo[] = [];
    const r = await compressConversation(input, opts({ summarise: s, onPreCompact: (i) => void pre.push(i), onPostCompact: (i) => void post.push(i) }));
    const stage = r.report.at(-1)!;
    assert.equal(stage.stage, 'summarise');
    assert.equal(stage.outcome, 'summarised');
    assert.equal(stage.costMicros, 1234);
    assert.deepEqual(r.summary, GOOD);
    assert.equal(s.prompts.length, 1);

    // Shape: [summary (user), last 3 turns exactly as they were].
    const tail = input.slice(input.length - 6);
    assert.deepEqual(r.messages.slice(1), tail);
    assert.equal(stage.changed, input.length - 6);
    const first = r.messages[0]!;
    assert.equal(first.role, 'user');
    const blocks = first.content as Anthropic.TextBlockParam[];
    assert.ok(blocks[0]!.text.startsWith(SUMMARY_MARKER));
    const text = JSON.stringify(blocks);
    for (const f of GOOD.findings) assert.ok(text.includes(f), `summary keeps "${f}"`);
    assert.ok(text.includes(TASK), 'the original instruction is carried verbatim');
    assert.deepEqual(pairingProblems(r.messages), []);
    assert.ok(stage.tokensAfter <= 4_000, `under the threshold after (${stage.tokensAfter})`);

    // The prompt: fixed system text, the transcript fenced as data.
    assert.equal(s.prompts[0]!.system, SUMMARY_SYSTEM);
    assert.match(promptText(s.prompts[0]!), /<transcript>[\s\S]*<tool_output>[\s\S]*<\/transcript>/);
    assert.ok(promptText(s.prompts[0]!).includes(NEEDLES.apiKeyEnv));

    assert.equal(pre.length, 1);
    assert.equal(pre[0]!.threshold, 4_000);
    assert.equal(pre[0]!.messagesToSummarise, input.length - 6);
    assert.equal(post.length, 1);
    assert.equal(post[0]!.outcome, 'summarised');
    assert.equal(post[0]!.tokensAfter, stage.tokensAfter);

    // Idempotent: compressing the result again calls nothing and changes nothing.
    const again = await compressConversation(deepFreeze(r.messages), opts({ summarise: s }));
    assert.deepEqual(again.messages, r.messages);
    assert.equal(s.prompts.length, 1);
    assert.ok(again.report.every((x) => x.changed === 0));
  });

  test('the summariser reads tool output that stage 3 already cleared', async () => {
    const s = recording(() => JSON.stringify(GOOD));
    const r = await compressConversation(conversation(), opts({ keepRecentTurns: 2, contextWindow: 2_000, summarise: s }));
    assert.match(resultText(conversation(), 'toolu_t0002')!, /KAIROS_X/);
    assert.equal(r.report.find((x) => x.stage === 'microcompact')!.changed, 10, 'stage 3 cleared the needle from context');
    assert.ok(promptText(s.prompts[0]!).includes(NEEDLES.apiKeyEnv), 'but the summariser still saw it');
  });

  test('a second summary carries the original instruction, once', async () => {
    const s = recording(() => JSON.stringify(GOOD));
    const first = await compressConversation(conversation(), opts({ summarise: s }));
    const grown = deepFreeze([
      ...first.messages,
      ...buildConversation('unused', Array.from({ length: 8 }, (_, i) => ({ text: `more ${i}`, calls: [read(`src/g${i}.ts`, numberedLines(`g${i}`, 30))] }))).slice(1).map((m) =>
        // Fresh ids, so they do not collide with the first conversation's.
        JSON.parse(JSON.stringify(m).replaceAll('toolu_t', 'toolu_g')) as Message,
      ),
    ]);
    assert.deepEqual(pairingProblems(grown), []);
    const second = await compressConversation(grown, opts({ summarise: s }));
    assert.equal(second.report.at(-1)?.outcome, 'summarised');
    const text = JSON.stringify(second.messages[0]!.content);
    assert.equal(text.split(TASK).length - 1, 1, 'the instruction appears exactly once');
    assert.ok(promptText(s.prompts[1]!).includes(SUMMARY_MARKER), 'the earlier summary was part of what got summarised');
    assert.deepEqual(pairingProblems(second.messages), []);
  });

  test('spilled outputs in the summarised part stay findable: the summary lists their files, and a later summary keeps the list', async () => {
    const spillDir = path.join(tmp.dir, 'spill-listed');
    const big = `${numberedLines('log-a', 400)}\n${NEEDLES.segfault}\n${numberedLines('log-b', 400)}`;
    const input = deepFreeze(
      buildConversation(TASK, [
        { text: 'build it', calls: [{ name: 'run_command', input: { command: 'npm run build' }, output: big }] },
        ...Array.from({ length: 11 }, (_, i) => ({ text: `turn ${i + 2}`, calls: [read(`src/f${i + 2}.ts`, numberedLines(`f${i + 2}`, 30))] })),
      ]),
    );
    const s = recording(() => JSON.stringify(GOOD));
    // Stage 3 clears the spilled preview first, so the list comes from the cleared stub.
    const o = opts({ spillDir, maxResultTokens: 2_000, previewTokens: 200, keepRecentTurns: 4, contextWindow: 3_000, summarise: s });
    const r = await compressConversation(input, o);
    assert.equal(r.report.at(-1)?.outcome, 'summarised');
    assert.equal(needleState(r.messages, { id: 'segfault', text: NEEDLES.segfault, placement: 'spilled' }, spillDir), 'on-disk');
    assert.match(JSON.stringify(r.messages[0]), /run_command \\"npm run build\\" \(~[\d,]+ tokens\): [^"]*spill-listed\/[0-9a-f]+\.txt/);

    const grown = deepFreeze([
      ...r.messages,
      ...buildConversation('unused', Array.from({ length: 8 }, (_, i) => ({ text: `more ${i}`, calls: [read(`src/g${i}.ts`, numberedLines(`g${i}`, 30))] }))).slice(1).map((m) =>
        JSON.parse(JSON.stringify(m).replaceAll('toolu_t', 'toolu_g')) as Message,
      ),
    ]);
    const second = await compressConversation(grown, o);
    assert.equal(second.report.at(-1)?.outcome, 'summarised');
    assert.equal(needleState(second.messages, { id: 'segfault', text: NEEDLES.segfault, placement: 'spilled' }, spillDir), 'on-disk', 'still listed after a second summary');
  });

  for (const [label, reply, outcome] of [
    ['prose instead of JSON', 'The agent was looking at the parser.', 'fallback-invalid-output'],
    ['JSON missing fields', JSON.stringify({ goal: 'x', findings: 'not a list' }), 'fallback-invalid-output'],
    ['a thrown error', new Error('socket hang up'), 'fallback-call-failed'],
  ] as const) {
    test(`${label}: falls back to clearing older tool results, never throws`, async () => {
      const input = conversation();
      const breaker = new CompressionBreaker();
      const r = await compressConversation(input, opts({ summarise: recording(() => reply), breaker }));
      const stage = r.report.at(-1)!;
      assert.equal(stage.outcome, outcome);
      assert.equal(r.summary, undefined);
      assert.equal(r.messages.length, input.length, 'no message dropped');
      assert.deepEqual(pairingProblems(r.messages), []);
      const cut = input.length - 6;
      for (let t = 1; t <= 12; t++) {
        const text = resultText(r.messages, `toolu_t${String(t).padStart(4, '0')}`)!;
        if (2 * t < cut) assert.match(text, /^\[cleared: read_file src\/f\d+\.ts/, `turn ${t} is stubbed`);
        else assert.doesNotMatch(text, /^\[cleared/, `turn ${t} is in the kept tail`);
      }
      assert.deepEqual(r.messages.filter((m) => m.role === 'assistant'), input.filter((m) => m.role === 'assistant'));
      assert.ok(stage.tokensAfter < stage.tokensBefore);
      assert.equal(breaker.state.consecutiveFailures, 1);
      assert.ok(stage.note && stage.note.length > 0, 'the note says what went wrong');
    });
  }

  test('without a summariser it falls back to stubs', async () => {
    const r = await compressConversation(conversation(), opts());
    assert.equal(r.report.at(-1)?.outcome, 'fallback-no-summariser');
  });

  test('the breaker stops calling after K failures, lets one try through after the cool-down, and persists', async () => {
    const clock = new FakeClock();
    const saved: BreakerState[] = [];
    const breaker = new CompressionBreaker({ maxFailures: 2, cooldownMs: 60_000, clock: () => clock.now(), onChange: (s) => void saved.push(s) });
    let good = false;
    const s = recording(() => (good ? JSON.stringify(GOOD) : 'junk'));
    const run = async () => (await compressConversation(conversation(), opts({ summarise: s, breaker }))).report.at(-1)!.outcome;

    assert.equal(await run(), 'fallback-invalid-output');
    assert.equal(breaker.status(), 'closed');
    assert.equal(await run(), 'fallback-invalid-output');
    assert.equal(breaker.status(), 'open');
    assert.equal(await run(), 'fallback-breaker-open');
    assert.equal(s.prompts.length, 2, 'no call while open');

    // Persisted state restores an open breaker.
    const restored = new CompressionBreaker({ maxFailures: 2, cooldownMs: 60_000, clock: () => clock.now(), state: saved.at(-1) });
    assert.equal(restored.status(), 'open');

    clock.advance(60_000);
    assert.equal(breaker.status(), 'half-open');
    assert.equal(await run(), 'fallback-invalid-output', 'one try after the cool-down');
    assert.equal(s.prompts.length, 3);
    assert.equal(await run(), 'fallback-breaker-open', 'a failed half-open try re-opens at once');
    assert.equal(s.prompts.length, 3);

    clock.advance(60_000);
    good = true;
    assert.equal(await run(), 'summarised');
    assert.equal(breaker.status(), 'closed');
    assert.deepEqual(saved.at(-1), { consecutiveFailures: 0, openedAt: null, lastError: null });
  });
});

describe('stage 4 through the real SDK and the fake Messages API', () => {
  const sdkSummariser = (): Summariser => {
    const sdk = new Anthropic({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 0, logLevel: 'off' });
    return async ({ system, messages }) => {
      const m = await sdk.messages.create({ model: 'claude-haiku-4-5', max_tokens: 2_000, system, messages });
      return { text: m.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join(''), costMicros: 0 };
    };
  };

  test('a long transcript: the scripted summary carries the needles, the rest survive stages 1-3', async () => {
    fake.reset();
    const t = generateTranscript({ name: 'sdk-80', turns: 80, seed: 11 });
    const spillDir = path.join(tmp.dir, 'spill-sdk');
    fake.script({ text: JSON.stringify({ ...GOOD, findings: t.needles.filter((n) => n.placement !== 'recent-result').map((n) => n.text) }) });
    const r = await compressConversation(deepFreeze(t.messages), {
      spillDir,
      contextWindow: 32_000,
      outputReserve: 4_000,
      summarise: sdkSummariser(),
    });
    assert.equal(r.report.at(-1)?.outcome, 'summarised');
    const req = fake.messageRequests();
    assert.equal(req.length, 1);
    assert.equal(req[0]!.body.system, SUMMARY_SYSTEM);
    assert.ok(JSON.stringify(req[0]!.body.messages).includes(NEEDLES.apiKeyEnv), 'the early needle reached the summariser');
    for (const n of t.needles) assert.notEqual(needleState(r.messages, n, spillDir), 'lost', `${n.id} survives`);
    assert.equal(needleState(r.messages, t.needles.find((n) => n.id === 'retry-limit')!, spillDir), 'in-context', 'the recent needle is in the kept tail');
    assert.deepEqual(pairingProblems(r.messages), []);
    assert.equal(r.messages[0]!.role, 'user');
  });

  test('a chatty reply and a malformed response both fall back', async () => {
    fake.reset();
    fake.script({ text: 'Sure! The agent was debugging the parser.' }, { malformed: true });
    const a = await compressConversation(conversation(), opts({ summarise: sdkSummariser() }));
    assert.equal(a.report.at(-1)?.outcome, 'fallback-invalid-output');
    const b = await compressConversation(conversation(), opts({ summarise: sdkSummariser() }));
    assert.equal(b.report.at(-1)?.outcome, 'fallback-call-failed');
    assert.deepEqual(pairingProblems(b.messages), []);
  });

  test('through the model client, the summary is reserved and settled in the spend ledger', async () => {
    fake.reset();
    const db = openDb(path.join(tmp.dir, 'ledger.db'));
    const client = createModelClient({ db, budget: { day_usd: 5 }, apiKey: 'sk-test', baseURL: fake.url, models: { act: 'claude-opus-4-7', triage: 'claude-haiku-4-5' } });
    fake.script({ text: JSON.stringify(GOOD) });
    const r = await compressConversation(conversation(), opts({ summarise: modelSummariser(client, { model: 'claude-haiku-4-5', taskId: 'task-1' }) }));
    const stage = r.report.at(-1)!;
    assert.equal(stage.outcome, 'summarised');
    const rows = db.prepare('SELECT model, state, cost_micro FROM spend_reservations').all() as Array<{ model: string; state: string; cost_micro: number }>;
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.model, 'claude-haiku-4-5');
    assert.notEqual(rows[0]!.state, 'open');
    assert.ok(rows[0]!.cost_micro > 0);
    assert.equal(stage.costMicros, rows[0]!.cost_micro, 'the report shows what the ledger charged');
    db.close();
  });
});
