import type Anthropic from '@anthropic-ai/sdk';

/**
 * Prompt caching: the API caches the request prefix up to each `cache_control` breakpoint, and a
 * later request with the same prefix pays the cache-read rate (a tenth of input) for it. So the
 * stable parts go first, each ending in a breakpoint, from most to least stable: if the repo
 * summary changes, the system prompt and policy summary still hit. The API allows 4 breakpoints
 * per request; these use at most 3, leaving one for `cachedTools`.
 */

const EPHEMERAL = { type: 'ephemeral' } as const;

export interface SystemParts {
  /** The fixed instructions; changes only with a Kairos release. */
  system: string;
  /** The active policy, summarised; changes when the user edits the policy. */
  policySummary?: string | undefined;
  /** The repository, summarised; changes when the repository changes shape. */
  repoSummary?: string | undefined;
  /** Anything per call (time, batch summary); never cached. */
  volatile?: string | undefined;
}

export function cachedSystem(parts: SystemParts): Anthropic.TextBlockParam[] {
  const blocks: Anthropic.TextBlockParam[] = [];
  for (const text of [parts.system, parts.policySummary, parts.repoSummary]) {
    if (text) blocks.push({ type: 'text', text, cache_control: EPHEMERAL });
  }
  if (parts.volatile) blocks.push({ type: 'text', text: parts.volatile });
  return blocks;
}

/** Tools come first in the cached prefix; a breakpoint on the last one caches all their schemas. */
export function cachedTools(tools: readonly Anthropic.Tool[]): Anthropic.Tool[] {
  return tools.map((t, i) => (i === tools.length - 1 ? { ...t, cache_control: EPHEMERAL } : t));
}
