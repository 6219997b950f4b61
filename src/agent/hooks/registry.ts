import { z } from 'zod';
import { HOOK_EVENTS, isHookEventName, type HookEventName } from './events.js';
import { compileMatcher, type Matcher } from './matcher.js';

/**
 * What is configured: the hook settings of every trusted source, checked and flattened into one
 * ordered list. The format is Claude Code's `hooks` settings section:
 *
 *   {"PreToolUse": [{"matcher": "Bash|Write", "hooks": [{"type": "command", "command": "...", "timeout": 30}]}]}
 *
 * Configuration order (source order, then event array order, then `hooks` array order) is kept in
 * `order`: it decides how several hooks' `updatedInput` combine (src/agent/hooks/aggregator.ts).
 */

/** A setting that cannot be used, with where and how to fix it. */
export class HookConfigError extends Error {
  override readonly name = 'HookConfigError';
}

const CommandHook = z.looseObject({
  type: z.literal('command'),
  command: z.string().trim().min(1, 'is empty — write the shell command to run'),
  timeout: z.number().positive('must be a positive number of seconds').optional(),
});

const AnyHook = z.looseObject({ type: z.string() });

const MatcherGroup = z.looseObject({
  matcher: z.string().optional(),
  hooks: z.array(AnyHook),
});

/** The `hooks` section, as written in settings files (events not known here are allowed; see `skipped`). */
export const HooksSettings = z.record(z.string(), z.array(MatcherGroup));
export type HooksSettings = z.infer<typeof HooksSettings>;

export interface HookSource {
  /** Where the settings came from, for messages: a file path, or e.g. "policy". */
  label: string;
  /** Only trusted sources contribute hooks; the caller decides (user config, trusted repository, trusted plugin). */
  trusted: boolean;
  /** The `hooks` section (not the whole settings file). */
  hooks: unknown;
  /** Set for a plugin's hooks: exported to the hook as CLAUDE_PLUGIN_ROOT and KAIROS_PLUGIN_ROOT. */
  pluginRoot?: string;
}

export interface RegisteredHook {
  event: HookEventName;
  /** As written; undefined, "" and "*" match everything. */
  matcher: string | undefined;
  matches: Matcher;
  command: string;
  /** Seconds, when the setting gives one. */
  timeoutSec: number | undefined;
  source: string;
  pluginRoot: string | undefined;
  /** Position in configuration order, across all sources. */
  order: number;
}

export interface SkippedHook {
  source: string;
  /** e.g. `hooks.UserPromptSubmit[0]`. */
  where: string;
  why: string;
}

export interface HookRegistry {
  readonly hooks: readonly RegisteredHook[];
  /** Settings that are valid but do nothing here (an event Kairos has no equivalent of, a prompt hook, an untrusted source). */
  readonly skipped: readonly SkippedHook[];
}

/**
 * Checks and flattens the sources, in the order given. Throws HookConfigError for a malformed
 * section of a trusted source: a user whose validator hook silently failed to load would think it
 * protects them, so a broken configuration stops the session instead of running without it.
 */
export function buildRegistry(sources: readonly HookSource[]): HookRegistry {
  const hooks: RegisteredHook[] = [];
  const skipped: SkippedHook[] = [];
  for (const source of sources) {
    if (!source.trusted) {
      if (hasAnyHook(source.hooks)) {
        skipped.push({ source: source.label, where: 'hooks', why: 'the source is not trusted, so its hooks do not run — review it and trust it (kairos trust <repo>)' });
      }
      continue;
    }
    const settings = parseHooksSettings(source.hooks, source.label);
    for (const [eventName, groups] of Object.entries(settings)) {
      if (!isHookEventName(eventName)) {
        skipped.push({ source: source.label, where: `hooks.${eventName}`, why: unknownEventWhy(eventName) });
        continue;
      }
      groups.forEach((group, gi) => {
        const where = `hooks.${eventName}[${gi}]`;
        let matches: Matcher;
        try {
          matches = compileMatcher(group.matcher);
        } catch (e) {
          throw new HookConfigError(`${source.label}: ${where}.matcher: ${(e as Error).message}`);
        }
        group.hooks.forEach((raw, hi) => {
          const at = `${where}.hooks[${hi}]`;
          if (raw.type !== 'command') {
            skipped.push({ source: source.label, where: at, why: `'${raw.type}' hooks are not supported by Kairos, only "type": "command" — it is skipped` });
            return;
          }
          const parsed = CommandHook.safeParse(raw);
          if (!parsed.success) throw new HookConfigError(`${source.label}: ${describeIssue(at, parsed.error)}`);
          hooks.push({
            event: eventName,
            matcher: group.matcher,
            matches,
            command: parsed.data.command,
            timeoutSec: parsed.data.timeout,
            source: source.label,
            pluginRoot: source.pluginRoot,
            order: hooks.length,
          });
        });
      });
    }
  }
  return { hooks, skipped };
}

/** Validates a `hooks` section; `label` names the file in the error. */
export function parseHooksSettings(value: unknown, label: string): HooksSettings {
  if (value === undefined || value === null) return {};
  const parsed = HooksSettings.safeParse(value);
  if (!parsed.success) throw new HookConfigError(`${label}: ${describeIssue('hooks', parsed.error)}`);
  return parsed.data;
}

function describeIssue(prefix: string, error: z.ZodError): string {
  const issue = error.issues[0]!;
  const where = [prefix, ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))].join('').replace(/\.\[/g, '[');
  const fix =
    issue.code === 'invalid_type'
      ? ' — the format is {"EventName": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "...", "timeout": 30}]}]}'
      : '';
  const message = issue.code === 'invalid_type' && /received undefined$/.test(issue.message) ? 'is missing' : issue.message;
  return `${where}: ${message}${fix}`;
}

function hasAnyHook(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.keys(value).length > 0;
}

const CLAUDE_ONLY: Record<string, string> = {
  UserPromptSubmit: 'Kairos has no interactive prompt',
  PermissionRequest: 'Kairos has no permission dialog (use PreToolUse)',
  SubagentStart: 'Kairos runs no subagents',
  SubagentStop: 'Kairos runs no subagents',
  Setup: 'Kairos has no setup phase',
};

function unknownEventWhy(name: string): string {
  const reason = CLAUDE_ONLY[name];
  if (reason) return `'${name}' never fires in Kairos (${reason}) — it is skipped`;
  return `'${name}' is not a hook event — it is skipped; the events are ${HOOK_EVENTS.join(', ')}`;
}
