import { describeCall, isStub, rewriteToolResults, withText, type ToolCall } from './conversation.js';
import { digestResult } from './digest.js';
import { spillInfo } from './result-budget.js';
import { estimateTextTokens, toolResultText } from './tokens.js';
import type { Message, ToolResultBlock } from './types.js';

/**
 * Stage 3. Tool results older than the last N turns are cleared to a stub that still says what was
 * there (which call, how big), so the model knows it can ask again, followed by a one-line digest of
 * the result's key facts (exit code, failing tests, errors, file:line; see digest.ts): re-running a
 * call may not reproduce what it showed, and a fact seen only in an old result must not vanish.
 * The assistant's own text is never touched: that is where it wrote down what it learned.
 */

export interface MicrocompactOptions {
  keepRecentTurns: number;
  /** Only results in messages before this index are eligible (stage 4's fallback uses it). */
  before?: number | undefined;
}

export function clearedStub(block: ToolResultBlock, what: string, call?: ToolCall): string {
  const text = toolResultText(block);
  // A spilled result keeps pointing at its file: the full text is still one read_file away.
  const spilled = spillInfo(text);
  const images = Array.isArray(block.content) ? block.content.filter((b) => b.type === 'image').length : 0;
  const size = `${spilled ? spilled.tokens : estimateTextTokens(text).toLocaleString('en')} tokens${images ? ` + ${images} image(s)` : ''}`;
  const again = spilled ? `full text at ${spilled.path}` : 'call the tool again if you need it';
  const facts = digestResult(text, call);
  return `[cleared: ${what}${block.is_error ? ' (error)' : ''} → ${size}; ${again}]${facts ? ` facts: ${facts}` : ''}`;
}

// The digest never contains `]` (digest.ts strips it), so a result's own text cannot forge a spill path here.
const CLEARED_SPILL = /^\[cleared: .* → ([\d,]+) tokens[^;]*; full text at (.+)\](?: facts: [^\]]*)?$/;

/** The spill file a cleared stub still points at (see clearedStub). */
export function clearedSpillInfo(text: string): { path: string; tokens: string } | undefined {
  const m = CLEARED_SPILL.exec(text);
  return m ? { tokens: m[1]!, path: m[2]! } : undefined;
}

export function microcompact(messages: readonly Message[], opts: MicrocompactOptions): { messages: Message[]; changed: number } {
  const before = opts.before ?? messages.length;
  return rewriteToolResults(messages, (block, { age, call, messageIndex }): ToolResultBlock => {
    if (age < opts.keepRecentTurns || messageIndex >= before) return block;
    if (typeof block.content === 'string' && isStub(block.content)) return block;
    return withText(block, clearedStub(block, describeCall(call), call));
  });
}
