import path from 'node:path';
import { EVENT_SPECS, type HookEventName } from './events.js';
import type { RegisteredHook } from './registry.js';

/**
 * Which hooks fire for one event: those registered for it whose matcher accepts the event's
 * subject (the tool's names for tool events; see EVENT_SPECS[event].matchOn for the others).
 * Identical commands from the same place are run once, as Claude Code does, so a hook listed
 * in both the user's and a repository's settings does not format a file twice.
 */
export function planHooks(
  hooks: readonly RegisteredHook[],
  event: HookEventName,
  /** What the matcher is tested against; null when `accept` tests the matcher itself (FileChanged: any of several files). */
  subjects: readonly string[] | null,
  /** A further test per hook: its `if` condition, or (FileChanged) whether its matcher accepts any changed file. */
  accept?: (hook: RegisteredHook) => boolean,
): RegisteredHook[] {
  const spec = EVENT_SPECS[event];
  const seen = new Set<string>();
  const planned: RegisteredHook[] = [];
  for (const hook of hooks) {
    if (hook.event !== event) continue;
    // An event without a matcher field fires all its hooks; an event whose subject is missing
    // (e.g. a Notification without a type) fires only the hooks that match everything.
    if (subjects !== null && spec.matchOn !== undefined && !hook.matches(subjects.length > 0 ? subjects : [''])) continue;
    if (accept !== undefined && !accept(hook)) continue;
    const key = `${hook.pluginRoot ?? ''}\0${hook.command}`;
    if (seen.has(key)) continue;
    seen.add(key);
    planned.push(hook);
  }
  return planned;
}

/**
 * The names an event's matcher is tested against. For FileChanged both the file's name and its
 * repository-relative path, so ".envrc" and "src/.*\.ts$" both work.
 */
export function matchSubjects(event: HookEventName, payload: Record<string, unknown>, toolNames: (tool: string) => string[]): string[] {
  const field = EVENT_SPECS[event].matchOn;
  if (field === undefined) return [];
  const value = payload[field];
  if (typeof value !== 'string' || value === '') return [];
  if (field === 'tool_name') return toolNames(value);
  if (field === 'file_path') return [path.basename(value), value];
  return [value];
}
