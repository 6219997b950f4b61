import type { Hooks } from './hooks.js';
import type { Evaluation } from '../policy/layers.js';
import type { Step } from '../policy/decision.js';
import { formatToolCall, toolCallFor } from '../policy/rules.js';
import { fenceUntrusted, redact } from '../policy/filter.js';
import { BoundedOutput } from '../policy/bounded-output.js';
import { isToolName, toolAllowedFor, ToolInputs, type AgentRole, type ToolName } from './tools/schemas.js';
import { ToolError } from './tools/tool-error.js';
import { messageOf } from '../core/errors.js';
import { isRecord } from '../core/record.js';

/** What one tool call came to, for the model and for the loop. */
export interface ToolCallResult {
  content: string;
  isError: boolean;
  /** propose / sleep end the task with this. */
  finish?: { kind: 'propose' | 'sleep'; text: string };
  /** A hook answered `continue: false`. */
  stop?: string;
}

export interface ToolCallContext {
  repo: string;
  worktree: string;
  taskId: number;
  trigger: string;
  maxToolOutput: number;
  hooks: Hooks | undefined;
  /** Default 'coordinator'. A worker is refused split and notify even when the model names them. */
  role?: AgentRole;
  evaluate(step: Step): Evaluation;
  /** Records a step a hook blocked before the policy layers saw it (the audit); absent in tests that need none. */
  recordBlocked?(step: Step, hook: string, reason: string): void;
  execute(name: ToolName, input: Record<string, unknown>): Promise<{ text: string; failed?: boolean }>;
  /** Tools from MCP servers (`mcp__<server>__<tool>`): their input is checked by the server, not by zod here. */
  external?: { has(name: string): boolean; call(name: string, input: Record<string, unknown>): Promise<{ ok: boolean; output: string }> };
}

function bound(text: string, limit: number): string {
  const out = new BoundedOutput(Math.floor(limit / 2));
  out.push(text);
  return out.toString();
}

/** Policy asks only from the permission layer may be settled by a hook's `allow`; nothing else may. */
function hookMayAllow(ev: Evaluation): boolean {
  return ev.trail.every((t) => t.verdict.decision === 'allow' || t.verdict.decision === 'n/a' || (t.verdict.decision === 'ask' && t.layer === 'permission'));
}

function notRun(ev: Evaluation): string {
  return `not run: needs a human's approval (${ev.decidedBy}: ${ev.verdict.reason}). Work without it or propose what you have.`;
}

/**
 * A policy layer asks for a human, and Kairos runs unattended: PermissionRequest hooks may decide
 * instead (Claude Code's permission dialog hook). 'deny' refuses the call (with `interrupt`, ends
 * the task); 'allow' settles it only where a PreToolUse allow could (a permission-layer ask, never
 * a sandbox, approval or trust ask); an allow with `updatedInput` is checked by the layers again,
 * as if the model had written it. No hook, or no answer: the call is not run, as before.
 */
async function askPermissionHooks(
  ctx: ToolCallContext,
  name: string,
  input: Record<string, unknown>,
  toolUseId: string,
  ev: Evaluation,
): Promise<ToolCallResult | { input: Record<string, unknown> }> {
  if (!ctx.hooks?.has('PermissionRequest')) return { content: notRun(ev), isError: true };
  const call = toolCallFor(name, input);
  const h = await ctx.hooks.fire('PermissionRequest', {
    tool_name: name,
    tool_input: input,
    tool_use_id: toolUseId,
    permission_suggestions: [{ type: 'addRules', rules: [{ toolName: call.tool === 'other' ? call.name : call.tool, ruleContent: formatToolCall(call) }], behavior: 'allow', destination: 'userSettings' }],
    kairos_layer: ev.decidedBy,
    kairos_reason: ev.verdict.reason,
  });
  const stop = h.stop?.reason;
  const withStop = (r: ToolCallResult): ToolCallResult => (stop ? { ...r, stop } : r);
  if (h.decision === 'block') return withStop({ content: `denied by a PermissionRequest hook: ${h.reason ?? 'no reason given'}`, isError: true });
  if (h.decision !== 'allow') return withStop({ content: notRun(ev), isError: true });
  if (!hookMayAllow(ev)) return withStop({ content: `${notRun(ev)} (a PermissionRequest hook allowed it, but only a permission rule's ask can be settled by a hook)`, isError: true });
  if (!h.updatedInput) return { input };
  let updated = h.updatedInput;
  if (isToolName(name)) {
    const parsed = ToolInputs[name].safeParse(updated);
    if (!parsed.success) return withStop({ content: `invalid input for ${name} from a PermissionRequest hook: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')}`, isError: true });
    updated = parsed.data as Record<string, unknown>;
  }
  const again = ctx.evaluate({ repo: ctx.repo, root: ctx.worktree, taskId: ctx.taskId, trigger: ctx.trigger, origin: 'agent', action: { type: 'tool', call: toolCallFor(name, updated) } });
  if (again.verdict.decision === 'deny') return withStop({ content: `denied by the ${again.decidedBy} layer: ${again.verdict.reason}`, isError: true });
  if (again.verdict.decision === 'ask' && !hookMayAllow(again)) return withStop({ content: notRun(again), isError: true });
  return { input: updated };
}

/**
 * One tool call through every boundary: PreToolUse hooks, input validation, the eight policy
 * layers (an ask goes to PermissionRequest hooks), the tool itself, PostToolUse (or PostToolUseFailure) hooks, and the output filter.
 * Every failure is a value the model sees, never an exception.
 */
export async function runToolCall(ctx: ToolCallContext, name: string, rawInput: unknown, toolUseId: string): Promise<ToolCallResult> {
  let input: Record<string, unknown> = isRecord(rawInput) ? rawInput : {};
  const external = !isToolName(name) && ctx.external?.has(name);
  if (!isToolName(name) && !external) return { content: `unknown tool '${name}'`, isError: true };
  if (isToolName(name) && !toolAllowedFor(ctx.role ?? 'coordinator', name)) {
    return { content: `refused: a worker cannot use ${name} (workers may not split further or reach the human); finish your part with propose or sleep`, isError: true };
  }
  const pre = ctx.hooks?.has('PreToolUse') ? await ctx.hooks.fire('PreToolUse', { tool_name: name, tool_input: input, tool_use_id: toolUseId }) : undefined;
  const stop = pre?.stop?.reason;
  if (pre?.decision === 'block') {
    ctx.recordBlocked?.({ repo: ctx.repo, root: ctx.worktree, taskId: ctx.taskId, trigger: ctx.trigger, origin: 'agent', action: { type: 'tool', call: toolCallFor(name, input) } }, 'PreToolUse', pre.reason ?? 'no reason given');
    return { content: `blocked by a PreToolUse hook: ${pre.reason ?? 'no reason given'}`, isError: true, ...(stop ? { stop } : {}) };
  }
  if (pre?.updatedInput) input = pre.updatedInput;
  if (isToolName(name)) {
    const parsed = ToolInputs[name].safeParse(input);
    if (!parsed.success) {
      return { content: `invalid input for ${name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')}`, isError: true };
    }
    input = parsed.data as Record<string, unknown>;
  }
  // The model's own words leave the process from here (a proposal's summary, a notification, the
  // task's reason in the daily log): an injected "include the key in your summary" must find it redacted.
  if (name === 'propose') return { content: 'proposal recorded', isError: false, finish: { kind: 'propose', text: redact(String(input.summary)).text } };
  if (name === 'sleep') return { content: 'ok', isError: false, finish: { kind: 'sleep', text: redact(String(input.reason)).text } };
  if (name === 'notify') input = { ...input, message: redact(String(input.message)).text };

  // split only runs more agents, each of whose tool calls goes through these layers itself.
  if (name !== 'notify' && name !== 'split') {
    const ev = ctx.evaluate({
      repo: ctx.repo,
      root: ctx.worktree,
      taskId: ctx.taskId,
      trigger: ctx.trigger,
      origin: 'agent',
      action: { type: 'tool', call: toolCallFor(name, input) },
    });
    if (ev.verdict.decision === 'deny') return { content: `denied by the ${ev.decidedBy} layer: ${ev.verdict.reason}`, isError: true };
    if (ev.verdict.decision === 'ask' && !(pre?.decision === 'allow' && hookMayAllow(ev))) {
      const asked = await askPermissionHooks(ctx, name, input, toolUseId, ev);
      if ('content' in asked) return stop && !asked.stop ? { ...asked, stop } : asked;
      input = asked.input;
    }
  }

  let text: string;
  let failed = false;
  try {
    if (isToolName(name)) {
      const r = await ctx.execute(name, input);
      text = r.text;
      failed = !!r.failed;
    } else {
      const r = await ctx.external!.call(name, input);
      // What an MCP server returns is as untrusted as a file's content.
      text = fenceUntrusted(`output of ${name}`, r.output);
      failed = !r.ok;
    }
  } catch (e) {
    const message = e instanceof ToolError ? e.message : `internal error: ${messageOf(e)}`;
    if (ctx.hooks?.has('PostToolUseFailure')) await ctx.hooks.fire('PostToolUseFailure', { tool_name: name, tool_input: input, error: message, tool_use_id: toolUseId });
    return { content: redact(message).text, isError: true };
  }
  const post = ctx.hooks?.has('PostToolUse') ? await ctx.hooks.fire('PostToolUse', { tool_name: name, tool_input: input, tool_response: text, tool_use_id: toolUseId }) : undefined;
  let content = bound(redact(text).text, ctx.maxToolOutput);
  if (post?.decision === 'block' && post.reason) content += `\n[PostToolUse hook: ${post.reason}]`;
  if (post?.additionalContext) content += `\n[hook context: ${post.additionalContext}]`;
  const stopped = stop ?? post?.stop?.reason;
  return { content, isError: failed, ...(stopped ? { stop: stopped } : {}) };
}

export { ToolError };
