/**
 * Compression benchmark (issue 5). Runs the four-stage pipeline over the generated long transcripts
 * (test/fixtures/transcripts) and prints, per transcript and context profile, the tokens after each
 * stage against the uncompressed baseline, the time each stage took, and where each planted fact
 * ("needle") is after each stage: in context, on disk (a spilled file the conversation names), or lost.
 * Some needles exist only in old tool results (a prose note, a file:line, an error class, a failing
 * test, an exit code): stage 3 clears those results, and only its one-line digest can keep them.
 *
 * Stage 4 goes through the real @anthropic-ai/sdk to the fake Messages API. The fake plays an
 * *ideal* summariser: it keeps every needle that is present in the prompt it receives. So the
 * stage-4 column measures whether compression put the fact in front of the summariser at all
 * (an upper bound for a real model), not a model's recall.
 * Run: npx tsx bench/compress.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import { compressConversation, estimateTokens, pairingProblems, STAGE_NAMES, type Summariser } from '../src/agent/compress.js';
import { startFakeAnthropic, type RecordedRequest } from '../test/support/fake-anthropic.js';
import { standardTranscripts, type Needle, type NeedlePlacement } from '../test/fixtures/transcripts/generate.js';
import { needleState, type NeedleState } from '../test/fixtures/transcripts/needles.js';

interface Profile {
  name: string;
  contextWindow: number;
  outputReserve: number;
}
const PROFILES: Profile[] = [
  { name: '200k window (default)', contextWindow: 200_000, outputReserve: 16_000 },
  { name: '32k window', contextWindow: 32_000, outputReserve: 4_000 },
  { name: '16k window', contextWindow: 16_000, outputReserve: 4_000 },
];

export interface BenchRow {
  transcript: string;
  profile: string;
  tokensBaseline: number;
  tokensAfter: number[];
  ms: number[];
  outcome: string;
  needles: Record<string, NeedleState[]>;
}

const SHORT: Record<NeedleState, string> = { 'in-context': 'ctx', 'on-disk': 'disk', lost: 'LOST' };

export async function main(): Promise<BenchRow[]> {
  const all = standardTranscripts();
  const needleTexts = [...new Set(all.flatMap((t) => t.needles.map((n) => n.text)))];
  const ideal = (req: RecordedRequest) => {
    const prompt = JSON.stringify(req.body?.messages ?? []);
    return {
      text: JSON.stringify({
        goal: 'find why the tests fail and propose a minimal fix',
        files_touched: ['src/parse.ts', 'src/lexer.ts'],
        findings: needleTexts.filter((n) => prompt.includes(n)),
        open_questions: [],
        decisions: [],
      }),
    };
  };
  const fake = await startFakeAnthropic({ fallback: ideal });
  const sdk = new Anthropic({ apiKey: 'sk-bench', baseURL: fake.url, maxRetries: 0, logLevel: 'off' });
  const summarise: Summariser = async ({ system, messages }) => {
    const m = await sdk.messages.create({ model: 'claude-haiku-4-5', max_tokens: 2_000, system, messages });
    return { text: m.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join(''), costMicros: 0 };
  };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-bench-compress-'));
  const rows: BenchRow[] = [];
  try {
    for (const profile of PROFILES) {
      for (const t of all) {
        const spillDir = path.join(root, `${t.name}-${profile.contextWindow}`);
        const opts = { spillDir, contextWindow: profile.contextWindow, outputReserve: profile.outputReserve, summarise };
        const needles: Record<string, NeedleState[]> = Object.fromEntries(t.needles.map((n) => [n.id, []]));
        // Cumulative prefixes of the pipeline give each stage's needle states (stages 1-3 are deterministic).
        let full: Awaited<ReturnType<typeof compressConversation>> | undefined;
        for (let upTo = 1; upTo <= STAGE_NAMES.length; upTo++) {
          fake.reset();
          const r = await compressConversation(t.messages, { ...opts, stages: STAGE_NAMES.slice(0, upTo) });
          for (const n of t.needles) needles[n.id]!.push(needleState(r.messages, n, spillDir));
          if (pairingProblems(r.messages).length > 0) throw new Error(`${t.name}: invalid pairing after ${STAGE_NAMES[upTo - 1]}`);
          full = r;
        }
        rows.push({
          transcript: `${t.name} (${t.turns} turns)`,
          profile: profile.name,
          tokensBaseline: estimateTokens(t.messages),
          tokensAfter: full!.report.map((s) => s.tokensAfter),
          ms: full!.report.map((s) => s.ms),
          outcome: full!.report.at(-1)?.outcome ?? '',
          needles,
        });
      }
    }
  } finally {
    await fake.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
  print(rows, all[0]!.needles);
  return rows;
}

const WHERE: Record<NeedlePlacement, string> = {
  assistant: 'early result + assistant text',
  'early-result': 'only in an early tool result',
  'recent-result': 'a tool result in the last turns',
  spilled: 'inside an oversized recent result',
};

function print(rows: BenchRow[], needles: readonly Needle[]): void {
  const k = (n: number) => `${(n / 1000).toFixed(1)}k`;
  const out: string[] = ['', 'compress: tokens (chars/4 estimate) after each stage vs the uncompressed baseline'];
  for (const profile of PROFILES) {
    const mine = rows.filter((x) => x.profile === profile.name);
    out.push('', `== ${profile.name}, threshold ${Math.floor(profile.contextWindow * 0.8 - profile.outputReserve).toLocaleString('en')} tokens`);
    out.push(`${'transcript'.padEnd(24)} ${'baseline'.padStart(9)} ${'1 budget'.padStart(9)} ${'2 dedupe'.padStart(9)} ${'3 micro'.padStart(9)} ${'4 summary'.padStart(10)}  ${'kept'.padStart(6)}  ${'1-3 ×'.padStart(6)}  stage ms (1/2/3/4)   stage 4`);
    for (const r of mine) {
      const last = r.tokensAfter.at(-1)!;
      out.push(
        `${r.transcript.padEnd(24)} ${k(r.tokensBaseline).padStart(9)} ${r.tokensAfter.map((n, i) => k(n).padStart(i === 3 ? 10 : 9)).join(' ')}  ${`${((100 * last) / r.tokensBaseline).toFixed(1)}%`.padStart(6)}  ${`${(r.tokensBaseline / r.tokensAfter[2]!).toFixed(1)}×`.padStart(6)}  ${r.ms.map((m) => m.toFixed(1)).join('/').padEnd(19)}  ${r.outcome}`,
      );
    }
    out.push('', 'needle table: found after stage 1 / 2 / 3 / 4 (ctx = in context, disk = in a spilled file the conversation names, LOST = gone)');
    out.push(`  ${'needle'.padEnd(18)} ${'kind'.padEnd(13)} ${'where it was'.padEnd(34)} ${mine.map((r) => r.transcript.split(' ')[0]!.padEnd(22)).join(' ')}`);
    for (const n of needles) {
      out.push(`  ${n.id.padEnd(18)} ${(n.kind ?? '').padEnd(13)} ${WHERE[n.placement].padEnd(34)} ${mine.map((r) => (r.needles[n.id] ?? []).map((s) => SHORT[s]).join(' / ').padEnd(22)).join(' ')}`);
    }
    const lostAfter3 = mine.flatMap((r) => needles.filter((n) => r.needles[n.id]?.[2] === 'lost').map((n) => `${n.id} in ${r.transcript}`));
    const minRatio = Math.min(...mine.map((r) => r.tokensBaseline / r.tokensAfter[2]!));
    out.push(`  after stages 1-3: ${lostAfter3.length === 0 ? 'every needle found' : `LOST ${lostAfter3.join(', ')}`}; smallest reduction ${minRatio.toFixed(1)}× (target ≥ 5×)`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
