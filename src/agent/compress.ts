import { performance } from 'node:perf_hooks';
import { CompressionBreaker } from './compress/breaker.js';
import { dedupeResults } from './compress/dedupe.js';
import { microcompact } from './compress/microcompact.js';
import { pairingProblems } from './compress/pairing.js';
import { applyResultBudget } from './compress/result-budget.js';
import { summariseOlderTurns } from './compress/summarise.js';
import { estimateTokens } from './compress/tokens.js';
import {
  CompressLimits,
  CompressOptionsError,
  CompressionPairingError,
  type ConversationSummary,
  type Message,
  type PostCompactInfo,
  type PreCompactInfo,
  type StageName,
  type StageReport,
  type Summariser,
  type TokenCounter,
} from './compress/types.js';

/**
 * Context compression before each model call, cheapest stage first: (1) spill oversized tool
 * results to disk, (2) stub superseded reads and command outputs, (3) clear old tool results,
 * (4) only if still over the threshold, summarise older turns with the cheap model. Stages 1-3
 * are deterministic and keep message indexes, so a compressed history compresses to itself and
 * the prompt-cache prefix stays stable; feed the returned messages back as the history so stage 4
 * runs rarely.
 */

export { CompressionBreaker } from './compress/breaker.js';
export type { BreakerState } from './compress/breaker.js';
export { modelSummariser } from './compress/model-summariser.js';
export { pairingProblems } from './compress/pairing.js';
export { estimateTokens } from './compress/tokens.js';
export { SUMMARY_MARKER } from './compress/summarise.js';
export * from './compress/types.js';

export interface CompressOptions extends Partial<CompressLimits> {
  /** Where stage 1 writes oversized tool results (created if missing). */
  spillDir: string;
  /** How a spilled file's path is shown to the model (e.g. relative to the worktree); default absolute. */
  showSpillPath?: ((absPath: string) => string) | undefined;
  /** Stage 4's model call; without it stage 4 falls back to stubs. */
  summarise?: Summariser | undefined;
  /** Keep one per task so failures count across calls; default: a fresh one per call. */
  breaker?: CompressionBreaker | undefined;
  /** Default: the chars/4 estimate of tokens.ts. */
  countTokens?: TokenCounter | undefined;
  onPreCompact?: ((info: PreCompactInfo) => void | Promise<void>) | undefined;
  onPostCompact?: ((info: PostCompactInfo) => void | Promise<void>) | undefined;
  /** Run only these stages (benchmarks, tests); default all four in order. */
  stages?: readonly StageName[] | undefined;
}

export interface CompressResult {
  messages: Message[];
  report: StageReport[];
  /** Present when stage 4 produced a summary this call. */
  summary?: ConversationSummary;
}

function limitsOf(opts: CompressOptions): CompressLimits {
  const given = new Map<string, unknown>(Object.entries(opts));
  // Only the numeric limits are validated here; functions and paths are checked where used.
  const picked = Object.fromEntries(Object.keys(CompressLimits.shape).flatMap((k) => (given.get(k) === undefined ? [] : [[k, given.get(k)]])));
  const parsed = CompressLimits.safeParse(picked);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ');
    throw new CompressOptionsError(`compressConversation options: ${issues}`);
  }
  return parsed.data;
}

/** The threshold stage 4 compares against: a share of the context window, minus room for the reply. */
export function compressionThreshold(limits: Pick<CompressLimits, 'contextWindow' | 'share' | 'outputReserve'>): number {
  return Math.floor(limits.contextWindow * limits.share - limits.outputReserve);
}

export async function compressConversation(messages: readonly Message[], opts: CompressOptions): Promise<CompressResult> {
  if (!opts.spillDir) throw new CompressOptionsError('compressConversation options: spillDir is required (a folder for oversized tool results)');
  const limits = limitsOf(opts);
  const count: TokenCounter = opts.countTokens ?? estimateTokens;
  const run = new Set<StageName>(opts.stages ?? ['result-budget', 'dedupe', 'microcompact', 'summarise']);
  const validAtStart = pairingProblems(messages).length === 0;
  const report: StageReport[] = [];
  let current: Message[] = [...messages];
  let beforeMicrocompact: Message[] = current;
  let summary: ConversationSummary | undefined;

  const stage = async (name: StageName, fn: (m: Message[]) => Promise<Omit<StageReport, 'stage' | 'tokensBefore' | 'tokensAfter' | 'ms'> & { messages: Message[] }>): Promise<void> => {
    if (!run.has(name)) return;
    const tokensBefore = await count(current);
    const t0 = performance.now();
    const { messages: next, ...rest } = await fn(current);
    const ms = performance.now() - t0;
    // Only a conversation that was valid can be held to this: an already-broken one is the caller's bug.
    if (validAtStart) {
      const problems = pairingProblems(next);
      if (problems.length > 0) throw new CompressionPairingError(`compression stage ${name} broke tool pairing: ${problems.slice(0, 3).join('; ')}`);
    }
    current = next;
    report.push({ stage: name, tokensBefore, tokensAfter: await count(current), ms: Math.round(ms * 1000) / 1000, ...rest });
  };

  await stage('result-budget', async (m) =>
    applyResultBudget(m, { maxResultTokens: limits.maxResultTokens, previewTokens: limits.previewTokens, spillDir: opts.spillDir, showPath: opts.showSpillPath }),
  );
  await stage('dedupe', async (m) => dedupeResults(m));
  beforeMicrocompact = current;
  await stage('microcompact', async (m) => microcompact(m, { keepRecentTurns: limits.keepRecentTurns }));
  await stage('summarise', async (m) => {
    const r = await summariseOlderTurns(m, beforeMicrocompact, {
      threshold: compressionThreshold(limits),
      summaryKeepTurns: limits.summaryKeepTurns,
      summaryResultTokens: limits.summaryResultTokens,
      summaryInputTokens: limits.summaryInputTokens,
      countTokens: count,
      summarise: opts.summarise,
      breaker: opts.breaker ?? new CompressionBreaker(),
      onPreCompact: opts.onPreCompact,
      onPostCompact: opts.onPostCompact,
    });
    summary = r.summary;
    return { messages: r.messages, changed: r.changed, costMicros: r.costMicros, outcome: r.outcome, ...(r.note ? { note: r.note } : {}) };
  });
  return { messages: current, report, ...(summary ? { summary } : {}) };
}
