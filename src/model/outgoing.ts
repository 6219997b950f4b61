import type Anthropic from '@anthropic-ai/sdk';
import { redactText } from '../policy/filter.js';

/**
 * The last door before the Messages API: every text the SDK sends (system prompt, user text,
 * tool results, the model's own earlier tool inputs) is redacted here, whoever built the request,
 * so no caller can forget. Images and documents are sent as they are (their base64 is not text to
 * scan). Redaction is deterministic, so a cached prompt prefix stays byte-identical across turns.
 */

/** A conversation is re-sent every turn; its long strings are redacted once and remembered. */
const memo = new Map<string, string>();
const MEMO_MIN = 256;
const MEMO_MAX_ENTRIES = 512;

function clean(s: string): string {
  if (s.length < MEMO_MIN) return redactText(s);
  const hit = memo.get(s);
  if (hit !== undefined) return hit;
  const out = redactText(s);
  const oldest = memo.keys().next();
  if (memo.size >= MEMO_MAX_ENTRIES && !oldest.done) memo.delete(oldest.value);
  memo.set(s, out);
  return out;
}

function deep(v: unknown): unknown {
  if (typeof v === 'string') return clean(v);
  if (Array.isArray(v)) return v.map(deep);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x)]));
  return v;
}

type Block = Anthropic.ContentBlockParam;
/** What a tool result's content list may hold. */
type ToolResultPart = Exclude<Anthropic.ToolResultBlockParam['content'], string | undefined>[number];

// String(): an assistant turn is the API's answer sent back as it came, not validated field by field.
function block(b: Block): Block {
  switch (b.type) {
    case 'text':
      return { ...b, text: clean(String(b.text)) };
    case 'tool_result':
      if (b.content === undefined) return b;
      return { ...b, content: typeof b.content === 'string' ? clean(b.content) : b.content.map(toolResultPart) };
    case 'tool_use':
    case 'server_tool_use':
      return { ...b, input: deep(b.input) };
    case 'thinking':
      return { ...b, thinking: clean(String(b.thinking)) };
    default:
      return b;
  }
}

/** A tool result's text is redacted; its images and documents are sent as they are. */
function toolResultPart(p: ToolResultPart): ToolResultPart {
  return p.type === 'text' ? { ...p, text: clean(String(p.text)) } : p;
}

export function redactSystem(system: string): string;
export function redactSystem(system: Anthropic.TextBlockParam[]): Anthropic.TextBlockParam[];
export function redactSystem(system: string | Anthropic.TextBlockParam[]): string | Anthropic.TextBlockParam[];
export function redactSystem(system: string | Anthropic.TextBlockParam[]): string | Anthropic.TextBlockParam[] {
  return typeof system === 'string' ? clean(system) : system.map((b) => ({ ...b, text: clean(b.text) }));
}

export function redactMessages(messages: Anthropic.MessageParam[]): Anthropic.MessageParam[] {
  return messages.map(redactMessage);
}

function redactMessage(m: Anthropic.MessageParam): Anthropic.MessageParam {
  if (m.role === 'system') return { ...m, content: redactSystem(m.content) };
  return { ...m, content: typeof m.content === 'string' ? clean(m.content) : m.content.map(block) };
}
