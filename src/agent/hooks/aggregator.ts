import { EVENT_SPECS, parseHookStdout, type HookEventName, type HookOutput } from './events.js';
import type { HookRunKind, HookRunResult } from './runner.js';

/**
 * Combines the answers of the hooks that ran for one event into one outcome.
 *
 * - Decision: block beats ask beats allow beats none (no hook had an opinion). A block is exit
 *   code 2, `permissionDecision: "deny"` or `decision: "block"`; for an event whose block has no
 *   effect (EVENT_SPECS[event].block === 'none', e.g. Notification) it is only a warning.
 * - A hook that times out, exits with another code, dies or cannot start does not block (as in
 *   Claude Code): it is a warning. Put a hard rule in policy `permissions.deny`, not in a hook.
 * - `continue: false` from any hook stops the task; for an event that can be prevented it also blocks.
 * - updatedInput: hooks run in parallel and each sees the original input; their updates are
 *   shallow-merged over it in configuration order, so for a field two hooks both set, the one
 *   configured later wins. Ignored when the decision is block.
 * - additionalContext: all of them, in configuration order, joined by blank lines.
 */

export type HookDecision = 'none' | 'allow' | 'ask' | 'block';

const RANK: Record<HookDecision, number> = { none: 0, allow: 1, ask: 2, block: 3 };

/** One hook's run, as the audit and the log want it. */
export interface HookRunRecord {
  command: string;
  source: string;
  order: number;
  kind: HookRunKind;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  /** This hook's own verdict. */
  decision: HookDecision;
  reason?: string;
  /** Its `systemMessage`, for the user. */
  systemMessage?: string;
  stdout: string;
  stderr: string;
}

export interface HookOutcome {
  event: HookEventName;
  decision: HookDecision;
  /** Why, for the model: the reasons of the hooks that gave the winning decision, one per line. */
  reason?: string;
  /** PreToolUse (and PermissionRequest's allow): the input after the hooks' updates (see the module comment). Re-validate it against the tool's schema. */
  updatedInput?: Record<string, unknown>;
  /** Text for the model's context, from `additionalContext` (and a SessionStart or UserPromptSubmit hook's plain stdout). */
  additionalContext?: string;
  /** A hook answered `continue: false`: end the task, telling the user this reason. */
  stop?: { reason: string };
  /** `systemMessage`s: for the user, not the model. */
  systemMessages: string[];
  /** Hooks that failed, timed out or answered nonsense: for the user and the log, never fatal. */
  warnings: string[];
  suppressOutput: boolean;
  runs: HookRunRecord[];
}

export interface FinishedRun {
  command: string;
  source: string;
  order: number;
  result: HookRunResult;
}

export function aggregate(event: HookEventName, finished: readonly FinishedRun[], originalInput?: Record<string, unknown>): HookOutcome {
  const spec = EVENT_SPECS[event];
  const outcome: HookOutcome = { event, decision: 'none', systemMessages: [], warnings: [], suppressOutput: false, runs: [] };
  const reasons: Partial<Record<HookDecision, string[]>> = {};
  const updates: { order: number; input: Record<string, unknown> }[] = [];
  const contexts: { order: number; text: string }[] = [];
  const stopReasons: string[] = [];

  for (const run of [...finished].sort((a, b) => a.order - b.order)) {
    const r = run.result;
    const name = `hook '${clip(run.command)}' (${run.source})`;
    let decision: HookDecision = 'none';
    let reason: string | undefined;
    let systemMessage: string | undefined;

    if (r.kind === 'timeout' || r.kind === 'error') {
      outcome.warnings.push(`${name} ${r.message ?? 'failed'}${r.stderr.trim() ? `: ${clip(r.stderr.trim(), 500)}` : ''}`);
    } else if (r.kind === 'block') {
      reason = r.stderr.trim() || `${name} blocked (exit code 2) without saying why`;
      if (spec.block === 'none') outcome.warnings.push(`${name} exited with code 2, which has no effect on ${event}: ${clip(reason, 500)}`);
      else decision = 'block';
    } else {
      const parsed = parseHookStdout(r.stdout, event, r.stdoutTruncated);
      if (parsed.kind === 'invalid') outcome.warnings.push(`${name} ${parsed.warning}`);
      else if (parsed.kind === 'text' && spec.plainStdoutIsContext) contexts.push({ order: run.order, text: parsed.text });
      else if (parsed.kind === 'json') {
        if (parsed.warning) outcome.warnings.push(`${name}: ${parsed.warning}`);
        const read = readAnswer(event, parsed.output);
        decision = read.decision;
        reason = read.reason;
        if (decision === 'block' && spec.block === 'none') {
          outcome.warnings.push(`${name} answered block, which has no effect on ${event}${reason ? `: ${clip(reason, 500)}` : ''}`);
          decision = 'none';
        }
        const o = parsed.output;
        if (o.continue === false) stopReasons.push(o.stopReason ?? `${name} stopped the task`);
        if (o.systemMessage) {
          outcome.systemMessages.push(o.systemMessage);
          systemMessage = o.systemMessage;
        }
        if (o.suppressOutput) outcome.suppressOutput = true;
        const specific = o.hookSpecificOutput;
        if (specific?.additionalContext) contexts.push({ order: run.order, text: specific.additionalContext });
        if (specific?.updatedInput) {
          if (event === 'PreToolUse') updates.push({ order: run.order, input: specific.updatedInput });
          else outcome.warnings.push(`${name} returned updatedInput, which only PreToolUse hooks can — ignored`);
        }
        if (event === 'PermissionRequest' && specific?.decision) {
          const d = specific.decision;
          if (d.behavior === 'allow' && d.updatedInput) updates.push({ order: run.order, input: d.updatedInput });
          if (d.behavior === 'deny' && d.interrupt === true) stopReasons.push(d.message ?? `${name} denied the request and stopped the task`);
        }
      }
    }

    if (RANK[decision] > RANK[outcome.decision]) outcome.decision = decision;
    if (decision !== 'none' && reason) (reasons[decision] ??= []).push(reason);
    outcome.runs.push({
      command: run.command,
      source: run.source,
      order: run.order,
      kind: r.kind,
      exitCode: r.exitCode,
      signal: r.signal,
      durationMs: r.durationMs,
      decision,
      ...(reason !== undefined ? { reason } : {}),
      ...(systemMessage !== undefined ? { systemMessage } : {}),
      stdout: r.stdout,
      stderr: r.stderr,
    });
  }

  if (stopReasons.length > 0) {
    outcome.stop = { reason: stopReasons.join('\n') };
    if (spec.block === 'prevent') outcome.decision = 'block';
  }
  const why = reasons[outcome.decision] ?? (outcome.stop && outcome.decision === 'block' ? [outcome.stop.reason] : undefined);
  if (why && why.length > 0) outcome.reason = why.join('\n');
  if (outcome.decision !== 'block' && updates.length > 0) {
    outcome.updatedInput = Object.assign({}, originalInput ?? {}, ...updates.map((u) => u.input));
  }
  if (contexts.length > 0) outcome.additionalContext = contexts.map((c) => c.text).join('\n\n');
  return outcome;
}

/** One hook's JSON answer as a decision, with Claude Code's older `decision` field as a fallback. */
function readAnswer(event: HookEventName, o: HookOutput): { decision: HookDecision; reason?: string } {
  const specific = o.hookSpecificOutput;
  if (event === 'PreToolUse' && specific?.permissionDecision) {
    const d = specific.permissionDecision;
    const reason = specific.permissionDecisionReason ?? o.reason;
    return { decision: d === 'deny' ? 'block' : d, ...(reason !== undefined ? { reason } : {}) };
  }
  if (event === 'PermissionRequest' && specific?.decision) {
    const d = specific.decision;
    const reason = d.message ?? o.reason;
    return { decision: d.behavior === 'deny' ? 'block' : 'allow', ...(reason !== undefined ? { reason } : {}) };
  }
  if (o.decision === 'block') return { decision: 'block', reason: o.reason ?? 'a hook blocked this without saying why' };
  if (o.decision === 'approve' && event === 'PreToolUse') return { decision: 'allow', ...(o.reason !== undefined ? { reason: o.reason } : {}) };
  return { decision: 'none' };
}

function clip(s: string, max = 80): string {
  const one = max <= 80 ? s.replace(/\s+/g, ' ') : s;
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
