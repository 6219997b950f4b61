import type { ContentBlock, Message, ToolResultBlock } from './types.js';

/**
 * A deterministic token estimate: ~4 characters per token, plus a small overhead per message and
 * block for the role and structure markers the API adds. It is only used to decide when to
 * compress and to report sizes, so being stable matters more than being exact; a caller that
 * wants exact numbers injects a counter (count_tokens) instead.
 */

const CHARS_PER_TOKEN = 4;
const MESSAGE_OVERHEAD = 4;
const BLOCK_OVERHEAD = 3;
/** Roughly what a mid-sized image costs; images are never rewritten, only counted. */
const IMAGE_TOKENS = 1_600;

export function estimateTextTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/** The text of a tool result, however its content is shaped (string, or text and image blocks). */
export function toolResultText(block: ToolResultBlock): string {
  const c = block.content;
  if (c === undefined) return '';
  if (typeof c === 'string') return c;
  return c
    .filter((b): b is Extract<typeof b, { type: 'text' }> => b.type === 'text')
    .map((b) => b.text)
    .join('\n');
}

function toolResultTokens(block: ToolResultBlock): number {
  const c = block.content;
  if (c === undefined) return 0;
  if (typeof c === 'string') return estimateTextTokens(c);
  return c.reduce((n, b) => n + BLOCK_OVERHEAD + (b.type === 'text' ? estimateTextTokens(b.text) : b.type === 'image' ? IMAGE_TOKENS : estimateTextTokens(JSON.stringify(b))), 0);
}

export function estimateBlockTokens(block: ContentBlock): number {
  switch (block.type) {
    case 'text':
      return BLOCK_OVERHEAD + estimateTextTokens(block.text);
    case 'tool_use':
      return BLOCK_OVERHEAD + estimateTextTokens(block.name + JSON.stringify(block.input ?? {}));
    case 'tool_result':
      return BLOCK_OVERHEAD + toolResultTokens(block);
    case 'image':
      return BLOCK_OVERHEAD + IMAGE_TOKENS;
    default:
      return BLOCK_OVERHEAD + estimateTextTokens(JSON.stringify(block));
  }
}

export function estimateMessageTokens(message: Message): number {
  if (typeof message.content === 'string') return MESSAGE_OVERHEAD + estimateTextTokens(message.content);
  return message.content.reduce((n, b) => n + estimateBlockTokens(b), MESSAGE_OVERHEAD);
}

export function estimateTokens(messages: readonly Message[]): number {
  return messages.reduce((n, m) => n + estimateMessageTokens(m), 0);
}
