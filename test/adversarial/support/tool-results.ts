/** tool_use_id → the text of its tool_result, from every request the fake API received. */
export function toolResults(bodies: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of bodies) {
    let body: { messages?: Array<{ content?: unknown }> };
    try {
      body = JSON.parse(raw);
    } catch {
      continue;
    }
    for (const m of body.messages ?? []) {
      if (!Array.isArray(m.content)) continue;
      for (const b of m.content as Array<{ type?: string; tool_use_id?: string; content?: unknown }>) {
        if (b.type !== 'tool_result' || !b.tool_use_id) continue;
        const text = typeof b.content === 'string' ? b.content : JSON.stringify(b.content);
        out.set(b.tool_use_id, text);
      }
    }
  }
  return out;
}
