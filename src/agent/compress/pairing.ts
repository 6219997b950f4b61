import type { Message } from './types.js';

/**
 * The structural rules the Messages API enforces on a tool conversation, as a list of problems
 * (empty = valid): the first message is from the user, roles alternate, and every tool_result
 * answers a tool_use of the assistant message just before it, which in turn is answered in full.
 */
export function pairingProblems(messages: readonly Message[]): string[] {
  const problems: string[] = [];
  if (messages.length === 0) return problems;
  if (messages[0]?.role !== 'user') problems.push('messages[0] is not a user message');
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (i > 0 && messages[i - 1]?.role === m.role) problems.push(`messages[${i}] repeats role ${m.role}`);
    const blocks = typeof m.content === 'string' ? [] : m.content;
    if (m.role === 'user') {
      const prev = messages[i - 1];
      const asked = new Set(
        prev && prev.role === 'assistant' && typeof prev.content !== 'string'
          ? prev.content.flatMap((b) => (b.type === 'tool_use' ? [b.id] : []))
          : [],
      );
      const answered = new Set<string>();
      for (const b of blocks) {
        if (b.type !== 'tool_result') continue;
        if (!asked.has(b.tool_use_id)) problems.push(`messages[${i}] has tool_result ${b.tool_use_id} with no tool_use in messages[${i - 1}]`);
        answered.add(b.tool_use_id);
      }
      for (const id of asked) if (!answered.has(id)) problems.push(`messages[${i}] does not answer tool_use ${id}`);
    } else {
      const uses = blocks.filter((b) => b.type === 'tool_use');
      if (uses.length > 0 && i === messages.length - 1) continue; // the caller is about to answer these
      if (uses.length > 0 && messages[i + 1]?.role !== 'user') problems.push(`messages[${i}] has tool_use with no user reply`);
    }
  }
  return problems;
}
