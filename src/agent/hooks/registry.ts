import { z } from 'zod';
import type { Rule } from '../../policy/rules.js';
import { CONDITION_EVENTS, parseCondition } from './condition.js';
import { HOOK_EVENTS, isHookEventName, type HookEventName } from './events.js';
import { compileMatcher, type Matcher } from './matcher.js';
import { UserInputError, type KairosErrorOptions, messageOf } from '../../core/errors.js';

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
export class HookConfigError extends UserInputError {
  override readonly name = 'HookConfigError';
  constructor(
    message: string,
    /** Every problem, with its JSON path inside the hooks section (for `policy check`'s file:line:col). */
    readonly problems: readonly HookProblem[] = [],
    options?: KairosErrorOptions,
  ) {
    super(message, options);
  }
}

/** One problem in a hooks section: `path` is relative to the section (e.g. ['PreToolUse', 0, 'hooks', 1, 'timeout']). */
export interface HookProblem {
  path: (string | number)[];
  message: string;
}

const CommandHook = z.looseObject({
  type: z.literal('command'),
  command: z.string().trim().min(1, 'is empty — write the shell command to run'),
  timeout: z.number().positive('must be a positive number of seconds').optional(),
  /** A permission rule the tool call must match (Claude Code's `if`, see condition.ts). */
  if: z.string().optional(),
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
  /** The hook's `if` rule: it runs only for tool calls the rule matches. */
  condition: Rule | undefined;
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
    const compiled = compileHooksSection(source.hooks);
    if (compiled.problems.length > 0) {
      const first = compiled.problems[0]!;
      throw new HookConfigError(`${source.label}: ${where(first.path)}: ${first.message}`, compiled.problems);
    }
    for (const s of compiled.skipped) skipped.push({ source: source.label, where: where(s.path), why: s.why });
    for (const h of compiled.hooks) hooks.push({ ...h, source: source.label, pluginRoot: source.pluginRoot, order: hooks.length });
  }
  return { hooks, skipped };
}

type CompiledHook = Omit<RegisteredHook, 'source' | 'pluginRoot' | 'order'>;

/**
 * One `hooks` section checked in full: every problem (not just the first, so `policy check` can list
 * them all), what is valid but never runs here, and the hooks themselves.
 */
export function compileHooksSection(value: unknown): { hooks: CompiledHook[]; skipped: { path: (string | number)[]; why: string }[]; problems: HookProblem[] } {
  const hooks: CompiledHook[] = [];
  const skipped: { path: (string | number)[]; why: string }[] = [];
  const problems: HookProblem[] = [];
  if (value === undefined || value === null) return { hooks, skipped, problems };
  const parsed = HooksSettings.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push({ path: issue.path.filter((p): p is string | number => typeof p !== 'symbol'), message: describeIssue(issue) });
    return { hooks, skipped, problems };
  }
  for (const [eventName, groups] of Object.entries(parsed.data)) {
    if (!isHookEventName(eventName)) {
      skipped.push({ path: [eventName], why: unknownEventWhy(eventName) });
      continue;
    }
    groups.forEach((group, gi) => {
      let matches: Matcher;
      try {
        matches = compileMatcher(group.matcher);
      } catch (e) {
        problems.push({ path: [eventName, gi, 'matcher'], message: messageOf(e) });
        return;
      }
      group.hooks.forEach((raw, hi) => {
        const at = [eventName, gi, 'hooks', hi];
        if (raw.type !== 'command') {
          skipped.push({ path: at, why: `'${raw.type}' hooks are not supported by Kairos, only "type": "command" — it is skipped` });
          return;
        }
        const cmd = CommandHook.safeParse(raw);
        if (!cmd.success) {
          for (const issue of cmd.error.issues) problems.push({ path: [...at, ...issue.path.filter((p): p is string | number => typeof p !== 'symbol')], message: describeIssue(issue) });
          return;
        }
        let condition: Rule | undefined;
        if (cmd.data.if !== undefined) {
          try {
            condition = parseCondition(cmd.data.if);
          } catch (e) {
            problems.push({ path: [...at, 'if'], message: messageOf(e) });
            return;
          }
          if (!CONDITION_EVENTS.has(eventName)) {
            skipped.push({ path: at, why: `"if" only applies to tool events (${[...CONDITION_EVENTS].join(', ')}), so this ${eventName} hook never runs — remove "if" or move the hook` });
            return;
          }
        }
        hooks.push({ event: eventName, matcher: group.matcher, matches, command: cmd.data.command, condition, timeoutSec: cmd.data.timeout });
      });
    });
  }
  return { hooks, skipped, problems };
}

/** Validates a `hooks` section; `label` names the file in the error. */
export function parseHooksSettings(value: unknown, label: string): HooksSettings {
  if (value === undefined || value === null) return {};
  const parsed = HooksSettings.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => ({ path: issue.path.filter((p): p is string | number => typeof p !== 'symbol'), message: describeIssue(issue) }));
    throw new HookConfigError(`${label}: ${where(problems[0]!.path)}: ${problems[0]!.message}`, problems);
  }
  return parsed.data;
}

/** `hooks.PreToolUse[0].hooks[1].timeout` */
function where(p: readonly (string | number)[]): string {
  return ['hooks', ...p.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`))].join('').replace(/\.\[/g, '[');
}

const TYPE_WORDS: Record<string, string> = { number: 'a number', string: 'text', array: 'a list [...]', object: 'an object {...}', record: 'an object {...}', boolean: 'true or false' };

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'invalid_type') return issue.message;
  const fix = ' — the format is {"EventName": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "...", "timeout": 30}]}]}';
  const received = /received (\w+)$/.exec(issue.message)?.[1];
  if (received === 'undefined') return `is missing${fix}`;
  return `expected ${TYPE_WORDS[issue.expected] ?? issue.expected}${received ? `, got ${TYPE_WORDS[received] ?? received}` : ''}${fix}`;
}

function hasAnyHook(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.keys(value).length > 0;
}

const CLAUDE_ONLY: Record<string, string> = {
  Setup: 'Kairos has no setup phase',
  StopFailure: 'a failed task is reported by Kairos itself',
  PostToolBatch: 'Kairos runs tool calls one by one',
  UserPromptExpansion: 'Kairos has no slash commands',
  TaskCreated: 'Kairos has no task list tool (use TaskProposed)',
  TaskCompleted: 'Kairos has no task list tool (use TaskApproved)',
  TeammateIdle: 'Kairos runs no agent teams',
  CwdChanged: "the agent's directory is its worktree and never changes",
  InstructionsLoaded: 'Kairos loads no CLAUDE.md instructions',
  ConfigChange: 'Kairos reloads its own policy (see kairos status)',
  WorktreeCreate: 'Kairos creates its worktrees itself',
  WorktreeRemove: 'Kairos removes its worktrees itself',
  Elicitation: 'Kairos runs unattended',
  ElicitationResult: 'Kairos runs unattended',
};

function unknownEventWhy(name: string): string {
  const reason = CLAUDE_ONLY[name];
  if (reason) return `'${name}' never fires in Kairos (${reason}) — it is skipped`;
  return `'${name}' is not a hook event — it is skipped; the events are ${HOOK_EVENTS.join(', ')}`;
}
