import type { Message, ToolResultBlock } from './types.js';
import { isRecord } from '../../core/record.js';

/** What the assistant asked for, found by a tool_result's tool_use_id. */
export interface ToolCall {
  name: string;
  input: Record<string, unknown>;
  messageIndex: number;
}

export function indexToolCalls(messages: readonly Message[]): Map<string, ToolCall> {
  const calls = new Map<string, ToolCall>();
  messages.forEach((m, messageIndex) => {
    if (m.role !== 'assistant' || typeof m.content === 'string') return;
    for (const b of m.content) {
      if (b.type !== 'tool_use') continue;
      const input = isRecord(b.input) ? b.input : {};
      calls.set(b.id, { name: b.name, input, messageIndex });
    }
  });
  return calls;
}

/**
 * A turn is one assistant message plus the user message after it (its tool results). A message's
 * age is how many assistant messages come after it, so the newest tool results have age 0.
 */
export function messageAges(messages: readonly Message[]): number[] {
  const ages = Array.from({ length: messages.length }, () => 0);
  let after = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    ages[i] = after;
    if (messages[i]?.role === 'assistant') after += 1;
  }
  return ages;
}

/** Index of the assistant message that opens the last `turns` turns, or -1 when there are not that many. */
export function startOfLastTurns(messages: readonly Message[], turns: number): number {
  let seen = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role !== 'assistant') continue;
    seen += 1;
    if (seen === turns) return i;
  }
  return -1;
}

export interface ToolResultContext {
  messageIndex: number;
  age: number;
  /** The tool_use this result answers (undefined only for a conversation that was already invalid). */
  call: ToolCall | undefined;
}

/**
 * Rebuilds the conversation with some tool results replaced. Messages with no replaced block are
 * shared with the input (never mutated), so an unchanged conversation costs no copying.
 */
export function rewriteToolResults(
  messages: readonly Message[],
  rewrite: (block: ToolResultBlock, ctx: ToolResultContext) => ToolResultBlock,
): { messages: Message[]; changed: number } {
  const calls = indexToolCalls(messages);
  const ages = messageAges(messages);
  let changed = 0;
  const out = messages.map((m, messageIndex): Message => {
    if (m.role !== 'user' || typeof m.content === 'string') return m;
    let touched = false;
    const content = m.content.map((b) => {
      if (b.type !== 'tool_result') return b;
      const next = rewrite(b, { messageIndex, age: ages[messageIndex] ?? 0, call: calls.get(b.tool_use_id) });
      if (next !== b && JSON.stringify(next) !== JSON.stringify(b)) {
        touched = true;
        changed += 1;
        return next;
      }
      return b;
    });
    return touched ? { ...m, content } : m;
  });
  return { messages: out, changed };
}

/** Stubs start with one of these, so later stages (and later runs) leave them alone. */
const STUB_PREFIXES = ['[superseded:', '[cleared:'];

export function isStub(text: string): boolean {
  return STUB_PREFIXES.some((p) => text.startsWith(p));
}

/** Replaces a result's content with text; images go too (a stub stands for the whole result). */
export function withText(block: ToolResultBlock, text: string): ToolResultBlock {
  return { ...block, content: text };
}

function clip(s: string, max: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`;
}

/** A short human description of a tool call, for stubs: `read_file src/x.ts`, `run_command "npm test"`. */
export function describeCall(call: ToolCall | undefined): string {
  if (!call) return 'unknown tool';
  const i = call.input;
  const str = (k: string): string | undefined => (typeof i[k] === 'string' ? (i[k] as string) : undefined);
  switch (call.name) {
    case 'read_file':
      return `read_file ${clip(str('path') ?? '?', 120)}`;
    case 'run_command':
      return `run_command "${clip(str('command') ?? '?', 120)}"`;
    case 'grep':
      return `grep "${clip(str('pattern') ?? '?', 80)}"${str('path') ? ` in ${clip(str('path')!, 80)}` : ''}`;
    case 'list_files':
      return `list_files ${clip(str('pattern') ?? '?', 80)}`;
    case 'git': {
      const args = i['args'];
      return `git ${clip(Array.isArray(args) ? args.join(' ') : typeof args === 'string' ? args : args == null ? '' : JSON.stringify(args), 100)}`;
    }
    default:
      return `${call.name} ${clip(JSON.stringify(i), 100)}`;
  }
}
