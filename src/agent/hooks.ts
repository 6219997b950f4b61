import os from 'node:os';
import path from 'node:path';
import { aggregate, type HookOutcome } from './hooks/aggregator.js';
import { conditionMatches } from './hooks/condition.js';
import { ensureBashGrammar } from '../policy/shell-grammar.js';
import { fromHookToolInput, hookToolName, toHookToolInput, toolNames } from './hooks/claude-tools.js';
import { EventPayloads, type EventPayload, type HookEventName } from './hooks/events.js';
import { matchSubjects, planHooks } from './hooks/planner.js';
import { buildRegistry, type HookRegistry, type HookSource, type RegisteredHook } from './hooks/registry.js';
import { DEFAULT_OUTPUT_LIMIT, DEFAULT_TIMEOUT_SEC, runHookCommand } from './hooks/runner.js';
import { redactDeep } from '../policy/filter.js';
import { KairosError } from '../core/errors.js';

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
 *                cap on how often, so a hook cannot keep the agent running forever). A worker of a
 *                split fires SubagentStop instead, with the same effect.
 *   PermissionRequest  when a policy layer asks for a human (tool-call.ts): 'allow' settles a
 *                permission-layer ask, 'block' denies the call, outcome.stop ends the task.
 * A hook's `if` rule (hooks/condition.ts) is tested before its process starts; FileChanged hooks get
 * only the changed files their matcher accepts. outcome.warnings are for the log; every
 * systemMessage also goes to `onSystemMessage` (the daemon shows it and writes it to the daily
 * log); outcome.runs are for the audit.
 */

export type { HookOutcome } from './hooks/aggregator.js';
export type { HookEventName, EventPayload } from './hooks/events.js';
export type { HookSource, HookRegistry } from './hooks/registry.js';
export { HookConfigError } from './hooks/registry.js';
export { loadHookSources } from './hooks/sources.js';

/** A payload that does not fit its event: a bug in the caller, not something a user can fix. */
export class HookPayloadError extends KairosError {
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
  /** The user's home, for `~/` in `if` rules. Default os.homedir(). */
  home?: string;
  /** Where a plugin keeps its state ($CLAUDE_PLUGIN_DATA): `<pluginDataRoot>/<plugin folder name>`. Unset: no CLAUDE_PLUGIN_DATA. */
  pluginDataRoot?: string;
  /** Every `systemMessage` a hook prints: for the user, not the model (a notification and the daily log). */
  onSystemMessage?: (message: string, about: { event: HookEventName; source: string }) => void;
  /**
   * Every warning of a run (a hook that failed, timed out, or answered something unusable): for the
   * log. A hook's failure never stops the session, so without this it would leave no trace.
   */
  onWarning?: (warning: string, about: { event: HookEventName }) => void;
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

const TOOL_EVENTS = new Set<HookEventName>(['PreToolUse', 'PostToolUse', 'PostToolUseFailure', 'PermissionRequest']);

interface ChangedFile {
  file_path: string;
  path: string;
  event: string;
}

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
    const home = config.home ?? os.homedir();
    // A Bash condition (`if: Bash(git *)`) reads the command with the bash grammar, which loads on first use.
    if (TOOL_EVENTS.has(event)) await ensureBashGrammar();
    // FileChanged: each hook gets the changed files its matcher accepts, and runs when there is one.
    // The typed views of the fields validated above, by event: the changed files, or the tool call.
    const changed: ChangedFile[] = event === 'FileChanged' ? EventPayloads.FileChanged.parse(fields).files : [];
    const toolCall = TOOL_EVENTS.has(event) ? EventPayloads.PreToolUse.parse(fields) : undefined;
    const filesFor = (hook: RegisteredHook): ChangedFile[] => changed.filter((f) => hook.matches([path.posix.basename(f.path), f.path]));
    const accept =
      event === 'FileChanged'
        ? (hook: RegisteredHook) => filesFor(hook).length > 0
        : toolCall
          ? (hook: RegisteredHook) =>
              hook.condition === undefined || conditionMatches(hook.condition, { tool: toolCall.tool_name, input: toolCall.tool_input, workDir, home })
          : undefined;
    const subjects = event === 'FileChanged' ? null : matchSubjects(event, fields, toolNames);
    const planned = planHooks(registry.hooks, event, subjects, accept);
    if (planned.length === 0) return aggregate(event, []);

    let tool: string | undefined;
    let sentInput: Record<string, unknown> | undefined;
    const stdinFields = { ...fields };
    if (toolCall) {
      tool = toolCall.tool_name;
      sentInput = toHookToolInput(tool, toolCall.tool_input, workDir);
      stdinFields.tool_name = hookToolName(tool);
      stdinFields.kairos_tool_name = tool;
      stdinFields.tool_input = sentInput;
    }
    const common = {
      session_id: config.sessionId,
      ...(config.transcriptPath !== undefined ? { transcript_path: config.transcriptPath } : {}),
      cwd: workDir,
      permission_mode: config.permissionMode ?? 'default',
      hook_event_name: event,
    };
    // A hook is a program outside Kairos: what it is told (tool inputs, tool output) is redacted like any other door out.
    const stdinFor = (hook: RegisteredHook): string => {
      if (event !== 'FileChanged') return JSON.stringify(redactDeep({ ...common, ...stdinFields }));
      const files = filesFor(hook);
      return JSON.stringify(redactDeep({ ...common, ...stdinFields, file_path: files[0]!.file_path, event: files[0]!.event, files }));
    };

    const finished = await Promise.all(
      planned.map(async (hook) => ({
        command: hook.command,
        source: hook.source,
        order: hook.order,
        result: await runHookCommand({
          command: hook.command,
          stdin: stdinFor(hook),
          cwd: config.projectDir,
          env: {
            ...baseEnv,
            CLAUDE_PROJECT_DIR: config.projectDir,
            KAIROS_PROJECT_DIR: config.projectDir,
            KAIROS_WORK_DIR: workDir,
            KAIROS_SESSION_ID: config.sessionId,
            KAIROS_HOOK_EVENT: event,
            ...(hook.pluginRoot ? pluginEnv(hook.pluginRoot, config.pluginDataRoot) : {}),
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
    for (const w of outcome.warnings) config.onWarning?.(w, { event });
    if (config.onSystemMessage) {
      for (const run of outcome.runs) {
        if (run.systemMessage?.trim()) config.onSystemMessage(run.systemMessage, { event, source: run.source });
      }
    }
    return outcome;
  }

  return {
    fire,
    has: (event) => registry.hooks.some((h) => h.event === event),
    registry,
  };
}

/**
 * A plugin's hook knows where its plugin lies (${CLAUDE_PLUGIN_ROOT}): `/bin/sh` expands the
 * variable in the command, so a folder name with shell characters in it is never re-read as shell
 * code, as textual substitution into the command would be.
 */
function pluginEnv(root: string, dataRoot: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { CLAUDE_PLUGIN_ROOT: root, KAIROS_PLUGIN_ROOT: root };
  if (dataRoot) env.CLAUDE_PLUGIN_DATA = path.join(dataRoot, path.basename(root));
  return env;
}

function withoutCredentials(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of WITHHELD_ENV) delete out[k];
  return out;
}
