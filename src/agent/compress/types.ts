import type Anthropic from '@anthropic-ai/sdk';
import { z } from 'zod';
import { InternalError } from '../../core/errors.js';

/** A conversation as the Messages API takes it. Compression never mutates one; it builds a new one. */
export type Message = Anthropic.MessageParam;
export type ContentBlock = Anthropic.ContentBlockParam;
export type ToolResultBlock = Anthropic.ToolResultBlockParam;

export const STAGE_NAMES = ['result-budget', 'dedupe', 'microcompact', 'summarise'] as const;
export const StageName = z.enum(STAGE_NAMES);
export type StageName = z.infer<typeof StageName>;

/** One line of the compression log: what a stage did to the conversation's size. */
export interface StageReport {
  stage: StageName;
  tokensBefore: number;
  tokensAfter: number;
  /** Blocks rewritten (stages 1-3) or messages folded into the summary (stage 4). */
  changed: number;
  ms: number;
  /** Stage 4 only: what the summariser cost, for the caller's log (the ledger is charged by the summariser itself). */
  costMicros?: number;
  /** Stage 4 only: why it did or did not summarise. */
  outcome?: SummariseOutcome;
  note?: string;
}

export type SummariseOutcome =
  | 'under-threshold'
  | 'nothing-to-summarise'
  | 'summarised'
  | 'fallback-invalid-output'
  | 'fallback-call-failed'
  | 'fallback-breaker-open'
  | 'fallback-no-summariser';

/** Counts a conversation's prompt tokens; may be exact (count_tokens) or an estimate. */
export type TokenCounter = (messages: Message[]) => number | Promise<number>;

/** The structured summary stage 4 asks the cheap model for; anything else is rejected. */
export const ConversationSummary = z.object({
  goal: z.string().min(1),
  files_touched: z.array(z.string()),
  findings: z.array(z.string()),
  open_questions: z.array(z.string()),
  decisions: z.array(z.string()),
});
export type ConversationSummary = z.infer<typeof ConversationSummary>;

/** The injected model call for stage 4; the caller routes it through the spend ledger. */
export type Summariser = (prompt: { system: string; messages: Message[] }) => Promise<{ text: string; costMicros: number }>;

/** Numeric limits, validated once per call. Defaults suit a 200k-token model. */
export const CompressLimits = z
  .object({
    /** Stage 1: a single tool result above this is spilled to disk. */
    maxResultTokens: z.number().int().positive().default(6_000),
    /** Stage 1: how much of a spilled result stays in context (head and tail together). */
    previewTokens: z.number().int().positive().default(600),
    /** Stage 3: tool results in the last this-many turns keep their content. */
    keepRecentTurns: z.number().int().nonnegative().default(8),
    /** Stage 4: threshold = contextWindow * share - outputReserve. */
    contextWindow: z.number().int().positive().default(200_000),
    share: z.number().gt(0).lte(1).default(0.8),
    outputReserve: z.number().int().nonnegative().default(16_000),
    /** Stage 4: the last this-many turns are kept verbatim (fewer if they alone would not fit). */
    summaryKeepTurns: z.number().int().positive().default(4),
    /** Stage 4: one tool result in the summariser's prompt is cut to this (head and tail). */
    summaryResultTokens: z.number().int().positive().default(1_500),
    /** Stage 4: the whole summariser prompt is squeezed under this. */
    summaryInputTokens: z.number().int().positive().default(60_000),
  })
  .refine((l) => l.previewTokens * 2 <= l.maxResultTokens, {
    message: 'previewTokens must be at most half of maxResultTokens, or a preview could itself be over the budget',
    path: ['previewTokens'],
  })
  .refine((l) => l.contextWindow * l.share - l.outputReserve > 0, {
    message: 'contextWindow * share - outputReserve must be positive',
    path: ['outputReserve'],
  });
export type CompressLimits = z.infer<typeof CompressLimits>;

export interface PreCompactInfo {
  tokens: number;
  threshold: number;
  /** How many leading messages are about to be folded into a summary. */
  messagesToSummarise: number;
}
export interface PostCompactInfo {
  outcome: SummariseOutcome;
  tokensBefore: number;
  tokensAfter: number;
  summary?: ConversationSummary;
  costMicros: number;
}

/** Thrown for options a caller got wrong; the message names the field and the fix. */
export class CompressOptionsError extends InternalError {
  override name = 'CompressOptionsError';
}

/** Thrown when a stage produced a conversation the API would reject: a bug in that stage, never input-dependent. */
export class CompressionPairingError extends InternalError {
  override name = 'CompressionPairingError';
}
