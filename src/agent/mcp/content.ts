/**
 * An MCP tool result as the text the agent sees. Text blocks are joined; other blocks are named
 * (the agent loop hands tool results to the model as text); structured content is shown as JSON
 * when there is no text. Long output is cut in the middle, keeping its head and tail.
 */

import { isRecord } from '../../core/record.js';

export function resultText(result: { content?: unknown; structuredContent?: unknown; toolResult?: unknown }, limit: number): string {
  const parts: string[] = [];
  // The server is untrusted: a block that is not an object shows as an unknown kind rather than throwing.
  const blocks = Array.isArray(result.content) ? result.content.map((b: unknown) => (isRecord(b) ? b : {})) : [];
  for (const b of blocks) parts.push(blockText(b));
  if (parts.length === 0 && result.structuredContent !== undefined) parts.push(JSON.stringify(result.structuredContent));
  // Servers speaking the 2024-10-07 protocol answer {toolResult} instead of {content}.
  if (parts.length === 0 && result.toolResult !== undefined) parts.push(typeof result.toolResult === 'string' ? result.toolResult : JSON.stringify(result.toolResult));
  return clip(parts.join('\n'), limit);
}

/** A field of a server's answer as text: the server is untrusted, so a non-string is shown as its JSON, not as [object Object]. */
function asText(v: unknown, absent = ''): string {
  if (v === undefined || v === null) return absent;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function blockText(b: Record<string, unknown>): string {
  const resource = isRecord(b.resource) ? b.resource : undefined;
  switch (b.type) {
    case 'text':
      return asText(b.text);
    case 'image':
    case 'audio':
      return `[${String(b.type)} ${asText(b.mimeType)} omitted]`;
    case 'resource':
      return typeof resource?.text === 'string' ? resource.text : `[resource ${asText(resource?.uri)} (${asText(resource?.mimeType, 'binary')}) omitted]`;
    case 'resource_link':
      return `[resource link: ${asText(b.name)} ${asText(b.uri)}]`;
    default:
      return `[${String(b.type)} content omitted]`;
  }
}

function clip(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const half = Math.floor(limit / 2);
  return `${text.slice(0, half)}\n[... ${text.length - 2 * half} characters cut ...]\n${text.slice(text.length - half)}`;
}
