import path from 'node:path';
import { isStub, rewriteToolResults, withText, type ToolCall } from './conversation.js';
import { toolResultText } from './tokens.js';
import type { Message, ToolResultBlock } from './types.js';

/**
 * Stage 2. When the same file was read again, or the same command run again, the older result is
 * stale by definition: only the newest is kept and older ones become a one-line stub that points
 * at it. Reads with extra inputs (a range, say) only supersede reads with the same extras.
 */

function canonicalPath(p: string): string {
  const n = path.posix.normalize(p.replace(/\\/g, '/'));
  return n.startsWith('./') ? n.slice(2) : n;
}

/** The identity of a repeatable call, or undefined for calls whose results never go stale this way. */
function supersedeKey(call: ToolCall | undefined): { key: string; stub: string } | undefined {
  if (!call) return undefined;
  const { name, input } = call;
  if (name === 'read_file' && typeof input['path'] === 'string') {
    const p = canonicalPath(input['path']);
    const rest = Object.entries(input)
      .filter(([k]) => k !== 'path')
      .sort(([a], [b]) => a.localeCompare(b));
    return { key: `read_file\u0000${p}\u0000${JSON.stringify(rest)}`, stub: `[superseded: newer read of ${p} below]` };
  }
  if (name === 'run_command' && typeof input['command'] === 'string') {
    const cmd = input['command'].trim().replace(/\s+/g, ' ');
    const shown = cmd.length > 120 ? `${cmd.slice(0, 119)}…` : cmd;
    return { key: `run_command\u0000${cmd}`, stub: `[superseded: newer output of \`${shown}\` below]` };
  }
  return undefined;
}

export function dedupeResults(messages: readonly Message[]): { messages: Message[]; changed: number } {
  // First pass: where the newest result of each key is (message index, then block order).
  const newest = new Map<string, string>();
  rewriteToolResults(messages, (block, { call }) => {
    const k = supersedeKey(call);
    if (k) newest.set(k.key, block.tool_use_id);
    return block;
  });
  return rewriteToolResults(messages, (block, { call }): ToolResultBlock => {
    const k = supersedeKey(call);
    if (!k || newest.get(k.key) === block.tool_use_id) return block;
    if (isStub(toolResultText(block)) && typeof block.content === 'string') return block;
    return withText(block, k.stub);
  });
}
