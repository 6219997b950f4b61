import { aggregate, type HookOutcome } from './hooks/aggregator.js';
import { fromHookToolInput, hookToolName, toHookToolInput, toolNames } from './hooks/claude-tools.js';
import { EventPayloads, type EventPayload, type HookEventName } from './hooks/events.js';
import { matchSubjects, planHooks } from './hooks/planner.js';
import { buildRegistry, type HookRegistry, type HookSource } from './hooks/registry.js';
import { DEFAULT_OUTPUT_LIMIT, DEFAULT_TIMEOUT_SEC, runHookCommand } from './hooks/runner.js';
import { redactDeep } from '../policy/filter.js';

/**
 * Hooks: user-configured shell commands that run at the agent's boundaries (before and after each
 * tool, at stop, around compaction and model calls, ...), in Claude Code's format.
 *
 * The parts, by role: hooks/registry.ts (what is configured), hooks/planner.ts (which hooks fire
 * for this event), hooks/runner.ts (run one, with a time limit), hooks/aggregator.ts (combine
 * verdicts), hooks/events.ts (event names, payloads, answers), hooks/claude-import.ts and
 * hooks/sources.ts (reading settings files), hooks/claude-tools.ts (Claude Code tool names).
 *
 * What the agent loop does with an outcome, at each tool call:
 *   PreToolUse   before permission checks. outcome.stop → end the task. decision 'block' → do not
 *                run the tool; return outcome.reason to the model as the tool's error result.
 *                outcome.updatedInput → re-validate it with the tool's zod schema (an invalid one
 *                is a tool error, as if the model had written it) and use it instead. Then run the
 *                policy layers on the (updated) input as always: 'ask' is an ask; 'allow' may turn
 *                the permission layer's ask into allow, but never overrides a policy deny and never
 *                skips the sandbox, the worktree confinement or protected paths.
 *   PostToolUse  after a successful tool. decision 'block' → append outcome.reason to the tool
 *                result the model sees; outcome.additionalContext → append it too (fenced as hook
 *                output); outcome.stop → end the task after this result.
 *   PostToolUseFailure  the same, after a tool error.
 *   Stop         when the model ends its turn. decision 'block' → do not stop: send outcome.reason
 *                as the next user message, with `stop_hook_active: true` on the next Stop (and a
 *                cap on how often, so a hook cannot keep the agent running forever).
 * outcome.warnings and outcome.systemMessages are for the user and the log; outcome.runs for the audit.
 */

export type { HookOutcome, HookDecision, HookRunRecord } from './hooks/aggregator.js';
export type { HookEventName, EventPayload } from './hooks/events.js';
export type { HookSource, RegisteredHook, SkippedHook, HookRegistry } from './hooks/registry.js';
export { HookConfigError } from './hooks/registry.js';
export { loadHookSources, type HookSourcesInput } from './hooks/sources.js';

/** A payload that does not fit its event: a bug in the caller, not something a user can fix. */
export class HookPayloadError extends Error {
  override readonly name = 'HookPayloadError';
}

export interface HooksConfig {
  /** From loadHookSources(), read when the session starts: the session's hooks never change after. */
  sources: readonly HookSource[];
  /**
   * The trusted repository root: the hooks' working directory and $CLAUDE_PROJECT_DIR /
   * $KAIROS_PROJECT_DIR. Not the task's worktree: scripts named like
   * "$CLAUDE_PROJECT_DIR/.claude/hooks/check.sh" must be the pinned, trusted copies, never files
   * the agent could have written.
   */
  projectDir: string;
  /** Where the tools act (the task's worktree): the payload's `cwd`, the base of `file_path`, $KAIROS_WORK_DIR. Default projectDir. */
  workDir?: string;
  sessionId: string;
  transcriptPath?: string;
  /** Claude Code's `permission_mode` field; Kairos runs unattended, so 'default'. */
  permissionMode?: string;
  /** The hooks' base environment. Default: this process's, without the model API credentials. */
  env?: NodeJS.ProcessEnv;
  /** Seconds, for hooks that set no `timeout`. Default 60. */
  defaultTimeoutSec?: number;
  /** Characters of stdout and of stderr kept per hook. Default 64 KiB. */
  outputLimit?: number;
  killGraceMs?: number;
}

export interface Hooks {
  /** Runs the hooks that match, in parallel, and combines their answers. Never rejects for a hook's failure. */
  fire<E extends HookEventName>(event: E, payload: EventPayload<E>): Promise<HookOutcome>;
  /** Whether any hook is registered for the event (to skip building an expensive payload). */
  has(event: HookEventName): boolean;
  readonly registry: HookRegistry;
}

/** Variables a hook never needs: the daemon's own model credentials. */
const WITHHELD_ENV = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN'];

const TOOL_EVENTS = new Set<HookEventName>(['PreToolUse', 'PostToolUse', 'PostToolUseFailure']);

/** Throws HookConfigError when a trusted source is malformed (see buildRegistry). */
export function createHooks(config: HooksConfig): Hooks {
  const registry = buildRegistry(config.sources);
  const workDir = config.workDir ?? config.projectDir;
  const baseEnv = config.env ?? withoutCredentials(process.env);
  const defaultTimeoutSec = config.defaultTimeoutSec ?? DEFAULT_TIMEOUT_SEC;

  async function fire<E extends HookEventName>(event: E, payload: EventPayload<E>): Promise<HookOutcome> {
    const parsed = EventPayloads[event].safeParse(payload);
    if (!parsed.success) {
      throw new HookPayloadError(`${event} payload: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    const fields = parsed.data as Record<string, unknown>;
    const subjects = matchSubjects(event, fields, toolNames);
    const planned = planHooks(registry.hooks, event, subjects);
    if (planned.length === 0) return aggregate(event, []);

    let tool: string | undefined;
    let sentInput: Record<string, unknown> | undefined;
    const stdinFields = { ...fields };
    if (TOOL_EVENTS.has(event)) {
      tool = fields.tool_name as string;
      sentInput = toHookToolInput(tool, fields.tool_input as Record<string, unknown>, workDir);
      stdinFields.tool_name = hookToolName(tool);
      stdinFields.kairos_tool_name = tool;
      stdinFields.tool_input = sentInput;
    }
    // A hook is a program outside Kairos: what it is told (tool inputs, tool output) is redacted like any other door out.
    const stdin = JSON.stringify(redactDeep({
      session_id: config.sessionId,
      ...(config.transcriptPath !== undefined ? { transcript_path: config.transcriptPath } : {}),
      cwd: workDir,
      permission_mode: config.permissionMode ?? 'default',
      hook_event_name: event,
      ...stdinFields,
    }));

    const finished = await Promise.all(
      planned.map(async (hook) => ({
        command: hook.command,
        source: hook.source,
        order: hook.order,
        result: await runHookCommand({
          command: hook.command,
          stdin,
          cwd: config.projectDir,
          env: {
            ...baseEnv,
            CLAUDE_PROJECT_DIR: config.projectDir,
            KAIROS_PROJECT_DIR: config.projectDir,
            KAIROS_WORK_DIR: workDir,
            KAIROS_SESSION_ID: config.sessionId,
            KAIROS_HOOK_EVENT: event,
            ...(hook.pluginRoot ? { CLAUDE_PLUGIN_ROOT: hook.pluginRoot, KAIROS_PLUGIN_ROOT: hook.pluginRoot } : {}),
          },
          timeoutMs: Math.round((hook.timeoutSec ?? defaultTimeoutSec) * 1000),
          outputLimit: config.outputLimit ?? DEFAULT_OUTPUT_LIMIT,
          ...(config.killGraceMs !== undefined ? { killGraceMs: config.killGraceMs } : {}),
        }),
      })),
    );

    const outcome = aggregate(event, finished, sentInput);
    if (outcome.updatedInput && tool !== undefined && sentInput) {
      outcome.updatedInput = fromHookToolInput(tool, outcome.updatedInput, sentInput, workDir);
    }
    return outcome;
  }

  return {
    fire,
    has: (event) => registry.hooks.some((h) => h.event === event),
    registry,
  };
}

function withoutCredentials(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of WITHHELD_ENV) delete out[k];
  return out;
}
