import { z } from 'zod';
import { messageOf } from '../../core/errors.js';

/**
 * Hook events, what each one's stdin payload holds, and what a hook may answer on stdout.
 *
 * The names and field names are Claude Code's where an event exists there, so a hook script
 * written for Claude Code reads the same JSON here. Kairos's own events follow the same
 * conventions (snake_case fields, one `hook_event_name`).
 */

export const CLAUDE_EVENTS = [
  'PreToolUse',
  'PostToolUse',
  'PostToolUseFailure',
  'Notification',
  'Stop',
  'PreCompact',
  'PostCompact',
  'SessionStart',
  'SessionEnd',
  'FileChanged',
  'UserPromptSubmit',
  'PermissionRequest',
  'SubagentStart',
  'SubagentStop',
] as const;

export const KAIROS_EVENTS = [
  'EventSettled',
  'TaskProposed',
  'TaskApproved',
  'TaskDenied',
  'BeforeModelCall',
  'AfterModelCall',
  'BudgetThreshold',
] as const;

export const HOOK_EVENTS = [...CLAUDE_EVENTS, ...KAIROS_EVENTS] as const;
export const HookEventName = z.enum(HOOK_EVENTS);
export type HookEventName = z.infer<typeof HookEventName>;

export function isHookEventName(name: string): name is HookEventName {
  return (HOOK_EVENTS as readonly string[]).includes(name);
}

/**
 * What a block (exit code 2, `decision: "block"`, `permissionDecision: "deny"`) does for each event:
 * - 'prevent': the thing does not happen (the tool does not run, the agent does not stop, the
 *   model call is not made, the settled event is dropped, the proposal is withheld);
 * - 'feedback': it already happened; the reason is given to the model with the result;
 * - 'none': nothing to block; the hook's stderr becomes a warning for the user, as in Claude Code.
 */
export type BlockEffect = 'prevent' | 'feedback' | 'none';

export interface EventSpec {
  block: BlockEffect;
  /** The payload field a matcher is tested against; undefined = the event has no matcher (every hook fires). */
  matchOn?: string;
  /** Claude Code adds a SessionStart hook's plain (non-JSON) stdout to the model's context. */
  plainStdoutIsContext?: boolean;
}

export const EVENT_SPECS: Record<HookEventName, EventSpec> = {
  PreToolUse: { block: 'prevent', matchOn: 'tool_name' },
  PostToolUse: { block: 'feedback', matchOn: 'tool_name' },
  PostToolUseFailure: { block: 'feedback', matchOn: 'tool_name' },
  Notification: { block: 'none', matchOn: 'notification_type' },
  Stop: { block: 'prevent' },
  PreCompact: { block: 'none', matchOn: 'trigger' },
  PostCompact: { block: 'none', matchOn: 'trigger' },
  SessionStart: { block: 'none', matchOn: 'source', plainStdoutIsContext: true },
  SessionEnd: { block: 'none', matchOn: 'reason' },
  FileChanged: { block: 'none', matchOn: 'file_path' },
  UserPromptSubmit: { block: 'prevent', plainStdoutIsContext: true },
  PermissionRequest: { block: 'prevent', matchOn: 'tool_name' },
  SubagentStart: { block: 'none', matchOn: 'agent_type' },
  SubagentStop: { block: 'prevent', matchOn: 'agent_type' },
  EventSettled: { block: 'prevent', matchOn: 'event_type' },
  TaskProposed: { block: 'prevent', matchOn: 'trigger' },
  TaskApproved: { block: 'none', matchOn: 'trigger' },
  TaskDenied: { block: 'none', matchOn: 'trigger' },
  BeforeModelCall: { block: 'prevent', matchOn: 'model' },
  AfterModelCall: { block: 'none', matchOn: 'model' },
  BudgetThreshold: { block: 'none', matchOn: 'cap' },
};

const ToolInput = z.record(z.string(), z.unknown());
/** Claude Code's FileChanged kinds: a file was created, modified or deleted. */
const FileChangeKind = z.enum(['add', 'change', 'unlink']);

/**
 * The event-specific fields the caller passes to `fire()`. Objects are loose: a caller may add
 * fields (they reach the hook unchanged), but the ones listed must be there and well-typed, so a
 * hook script can rely on them.
 */
export const EventPayloads = {
  PreToolUse: z.looseObject({ tool_name: z.string().min(1), tool_input: ToolInput, tool_use_id: z.string().optional() }),
  PostToolUse: z.looseObject({
    tool_name: z.string().min(1),
    tool_input: ToolInput,
    tool_response: z.unknown(),
    tool_use_id: z.string().optional(),
  }),
  PostToolUseFailure: z.looseObject({
    tool_name: z.string().min(1),
    tool_input: ToolInput,
    error: z.string(),
    tool_use_id: z.string().optional(),
    is_interrupt: z.boolean().optional(),
  }),
  Notification: z.looseObject({ message: z.string(), title: z.string().optional(), notification_type: z.string().optional() }),
  Stop: z.looseObject({ stop_hook_active: z.boolean(), last_assistant_message: z.string().optional() }),
  PreCompact: z.looseObject({ trigger: z.enum(['manual', 'auto']), custom_instructions: z.string().optional() }),
  PostCompact: z.looseObject({ trigger: z.enum(['manual', 'auto']), compact_summary: z.string().optional() }),
  SessionStart: z.looseObject({ source: z.enum(['startup', 'resume', 'clear', 'compact']), model: z.string().optional() }),
  SessionEnd: z.looseObject({ reason: z.string() }),
  /**
   * Once per settled batch of file changes (not per file, as Claude Code does): `file_path` and
   * `event` are the first changed file, in Claude Code's fields, so a script written for it works;
   * `files` lists every changed file the hook's matcher accepted.
   */
  FileChanged: z.looseObject({
    file_path: z.string().min(1),
    event: FileChangeKind,
    files: z.array(z.looseObject({ file_path: z.string().min(1), path: z.string().min(1), event: FileChangeKind })).min(1),
  }),
  /** A poke's note (`kairos poke --note`), before it reaches a model. */
  UserPromptSubmit: z.looseObject({ prompt: z.string() }),
  /** A policy layer asks for a human's approval of a tool call; the hook may decide instead (see tool-call.ts). */
  PermissionRequest: z.looseObject({
    tool_name: z.string().min(1),
    tool_input: ToolInput,
    tool_use_id: z.string().optional(),
    permission_suggestions: z.array(z.unknown()).optional(),
  }),
  /** A worker of a split (src/agent/workers.ts) starts. */
  SubagentStart: z.looseObject({ agent_id: z.string().min(1), agent_type: z.string().min(1) }),
  /** A worker wants to finish; a block sends it back to work, as Stop does for the task. */
  SubagentStop: z.looseObject({
    stop_hook_active: z.boolean(),
    agent_id: z.string().min(1),
    agent_type: z.string().min(1),
    last_assistant_message: z.string().optional(),
  }),
  EventSettled: z.looseObject({ event_type: z.string().min(1), trigger: z.string().optional(), paths: z.array(z.string()).optional() }),
  TaskProposed: z.looseObject({
    task_id: z.string().min(1),
    trigger: z.string().optional(),
    proposal: z.looseObject({ id: z.string(), hash: z.string(), summary: z.string(), files: z.array(z.string()) }),
  }),
  TaskApproved: z.looseObject({ task_id: z.string().min(1), trigger: z.string().optional(), proposal_id: z.string().optional() }),
  TaskDenied: z.looseObject({
    task_id: z.string().min(1),
    trigger: z.string().optional(),
    proposal_id: z.string().optional(),
    reason: z.string().optional(),
  }),
  BeforeModelCall: z.looseObject({
    model: z.string().min(1),
    purpose: z.string().optional(),
    task_id: z.string().optional(),
    max_tokens: z.number().int().nonnegative().optional(),
  }),
  AfterModelCall: z.looseObject({
    model: z.string().min(1),
    purpose: z.string().optional(),
    task_id: z.string().optional(),
    usage: z.looseObject({ input_tokens: z.number(), output_tokens: z.number() }).optional(),
    cost_usd: z.number().optional(),
    stop_reason: z.string().nullable().optional(),
  }),
  BudgetThreshold: z.looseObject({
    cap: z.enum(['task', 'hour', 'day', 'month']),
    spent_usd: z.number(),
    limit_usd: z.number(),
    fraction: z.number(),
  }),
} satisfies Record<HookEventName, z.ZodType>;

export type EventPayload<E extends HookEventName> = z.input<(typeof EventPayloads)[E]>;

/**
 * What a hook may print on stdout (exit code 0). Hook output is untrusted input: everything is
 * optional, types are checked, unknown keys are ignored (Claude Code adds fields over time and a
 * hook written for a newer version must not be rejected for one we do not use).
 *
 * `updatedInput` must be an object; the caller re-validates the resulting tool input against the
 * tool's own schema before running it, exactly as if the model had written it.
 */
export const HookSpecificOutput = z.looseObject({
  hookEventName: z.string(),
  permissionDecision: z.enum(['allow', 'deny', 'ask']).optional(),
  permissionDecisionReason: z.string().optional(),
  updatedInput: z.record(z.string(), z.unknown()).optional(),
  additionalContext: z.string().optional(),
  /** PermissionRequest's answer. */
  decision: z
    .looseObject({
      behavior: z.enum(['allow', 'deny']),
      updatedInput: z.record(z.string(), z.unknown()).optional(),
      message: z.string().optional(),
      interrupt: z.boolean().optional(),
    })
    .optional(),
});

export const HookOutput = z.looseObject({
  continue: z.boolean().optional(),
  stopReason: z.string().optional(),
  suppressOutput: z.boolean().optional(),
  systemMessage: z.string().optional(),
  /** "approve" is Claude Code's older spelling of permissionDecision "allow". */
  decision: z.enum(['block', 'approve']).optional(),
  reason: z.string().optional(),
  hookSpecificOutput: HookSpecificOutput.optional(),
});
export type HookOutput = z.infer<typeof HookOutput>;

export type ParsedStdout =
  | { kind: 'empty' }
  | { kind: 'json'; output: HookOutput; warning?: string }
  /** Plain text (not meant as JSON): kept for the log; context for SessionStart. */
  | { kind: 'text'; text: string }
  | { kind: 'invalid'; warning: string };

/**
 * Reads a hook's stdout. Like Claude Code, only output that looks like a JSON object is taken as
 * the structured answer; plain text (a formatter listing the files it touched) is not an error.
 * Output that starts like JSON but does not parse or has wrong types is a warning, and the hook
 * counts by its exit code alone.
 */
export function parseHookStdout(stdout: string, event: HookEventName, truncated = false): ParsedStdout {
  const text = stdout.trim();
  if (text === '') return { kind: 'empty' };
  if (!text.startsWith('{')) return { kind: 'text', text };
  if (truncated) return { kind: 'invalid', warning: 'printed more output than is kept, so its JSON was cut and ignored — print less' };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { kind: 'invalid', warning: `printed invalid JSON (${messageOf(e)}), ignored — print one JSON object, or plain text` };
  }
  const parsed = HookOutput.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    return { kind: 'invalid', warning: `printed JSON that is not a hook answer (${issues}), ignored — see the hook output format` };
  }
  const output = parsed.data;
  const specific = output.hookSpecificOutput;
  if (specific && specific.hookEventName !== event) {
    // A script answering for another event is confused; using half of its answer would be worse.
    const { hookSpecificOutput: _dropped, ...rest } = output;
    return {
      kind: 'json',
      output: rest,
      warning: `hookSpecificOutput.hookEventName is '${specific.hookEventName}' but the event is '${event}', so hookSpecificOutput was ignored — set it to '${event}'`,
    };
  }
  return { kind: 'json', output };
}
