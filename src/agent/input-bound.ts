import type Anthropic from '@anthropic-ai/sdk';
import { redactMessages, redactSystem } from '../model/outgoing.js';

/**
 * An upper bound of a request's input tokens without asking the API, so a turn costs one round trip
 * (no count_tokens before it). The spend reservation is made on this bound, so it must never be
 * short: a byte-level tokenizer never makes more tokens than UTF-8 bytes, so bytes (of what is sent,
 * redacted as it will be) plus a fixed allowance per block for the API's own framing bound a
 * prompt's tokens. The next turn's prompt is the previous one (its real size is in the previous
 * response's usage) plus what was added since: the assistant's answer and the tool results, each
 * bounded by bytes. Real text runs near 4 bytes a token, so far from any cap the bound costs nothing;
 * near a cap or the context window the model client asks count_tokens for the exact number instead.
 */

/** Tokens for the API's framing of one block or message (role markers, tool-use wrappers). */
const FRAMING_PER_BLOCK = 16;
/** And per request (the conversation's own framing). */
const FRAMING_PER_REQUEST = 64;

type Usage = Pick<Anthropic.Usage, 'input_tokens'> & { cache_creation_input_tokens?: number | null; cache_read_input_tokens?: number | null };

function bytes(value: unknown): number {
  return Buffer.byteLength(typeof value === 'string' ? value : JSON.stringify(value), 'utf8');
}

function messagesBound(messages: readonly Anthropic.MessageParam[]): number {
  let n = 0;
  for (const m of redactMessages([...messages])) {
    n += FRAMING_PER_BLOCK;
    if (typeof m.content === 'string') n += bytes(m.content) + FRAMING_PER_BLOCK;
    else for (const b of m.content) n += (b.type === 'text' ? bytes(b.text) : bytes(b)) + FRAMING_PER_BLOCK;
  }
  return n;
}

/** Bound of a whole request: its bytes as sent. */
export function requestInputBound(req: { system?: string | Anthropic.TextBlockParam[] | undefined; tools?: readonly Anthropic.Tool[] | undefined; messages: readonly Anthropic.MessageParam[] }): number {
  const system = req.system === undefined ? 0 : typeof req.system === 'string' ? bytes(redactSystem(req.system)) : redactSystem(req.system).reduce((a: number, b: Anthropic.TextBlockParam) => a + bytes(b.text) + FRAMING_PER_BLOCK, 0);
  const tools = (req.tools ?? []).reduce((a, t) => a + bytes(t) + FRAMING_PER_BLOCK, 0);
  return FRAMING_PER_REQUEST + system + tools + messagesBound(req.messages);
}

/** All the prompt tokens a response's usage reports (uncached, written to and read from the cache). */
export function promptTokens(usage: Usage): number {
  return usage.input_tokens + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0);
}

/**
 * Bound of the next request when its first `sentCount` messages are exactly the previous request's
 * (whose real prompt size the previous usage gives): that size plus the added messages' bound.
 */
export function nextInputBound(previous: Usage, messages: readonly Anthropic.MessageParam[], sentCount: number): number {
  return promptTokens(previous) + FRAMING_PER_REQUEST + messagesBound(messages.slice(sentCount));
}
