import type { Verdict } from './decision.js';
import { evaluateStep, type Evaluation, type LayerContext, type LayerDeps } from './layers.js';
import { checkPermission, type PartDecision } from './permission.js';
import { formatToolCall, parseToolCall, type ToolCall } from './rules.js';

/** `kairos policy explain "<Tool(arg)>"`: which layer decides a call, by which rule, and why. */
export interface Explanation {
  call: ToolCall;
  /** The call as rules spell it. */
  text: string;
  verdict: Verdict;
  decidedBy?: string;
  trail: Evaluation['trail'];
  /** For commands: each simple command, redirection and file, and what the rules say about it. */
  parts: PartDecision[];
}

export interface ExplainOptions {
  repo: string;
  /** The worktree the call would run in; the repository when absent. */
  root?: string;
}

/**
 * Evaluates the call as an agent tool call, without writing to the audit table. Pass real
 * trust and spend layers to see them too; an explain never reserves money, because a tool call
 * is not a model call.
 */
export function explainCall(callText: string, ctx: LayerContext, deps: Omit<LayerDeps, 'audit'>, opts: ExplainOptions): Explanation {
  const call = parseToolCall(callText);
  const step = { repo: opts.repo, ...(opts.root ? { root: opts.root } : {}), origin: 'agent' as const, action: { type: 'tool' as const, call } };
  const ev = evaluateStep(step, ctx, { trust: deps.trust, spend: deps.spend });
  const perm = checkPermission(call, ctx.rules, { root: opts.root ?? opts.repo, home: ctx.home });
  return { call, text: formatToolCall(call), verdict: ev.verdict, ...(ev.decidedBy ? { decidedBy: ev.decidedBy } : {}), trail: ev.trail, parts: perm.parts };
}

const WORD: Record<Verdict['decision'] | 'n/a', string> = { allow: 'ALLOW', ask: 'ASK', deny: 'DENY', 'n/a': 'n/a' };

export function formatExplanation(e: Explanation): string {
  const lines: string[] = [];
  const v = e.verdict;
  lines.push(`${e.text}`);
  lines.push(`→ ${WORD[v.decision]}${v.decision === 'ask' && v.queued ? ' (queued: nobody to answer now)' : ''}${e.decidedBy ? ` — decided by the ${e.decidedBy} layer` : ' — every layer allows it'}`);
  if (v.reason) lines.push(`  why:  ${v.reason}`);
  if (v.rule) lines.push(`  rule: ${v.rule}`);
  if (e.parts.length > 1 || e.call.tool === 'Bash') {
    lines.push('', 'parts:');
    for (const p of e.parts) lines.push(`  ${WORD[p.verdict.decision].padEnd(5)} ${p.subject}${p.verdict.reason ? `  (${p.verdict.reason})` : ''}`);
  }
  lines.push('', 'layers:');
  for (const t of e.trail) lines.push(`  ${String(LAYER_INDEX[t.layer]).padStart(1)} ${t.layer.padEnd(10)} ${WORD[t.verdict.decision].padEnd(5)}${t.verdict.reason ? ` ${t.verdict.reason}` : ''}`);
  return lines.join('\n');
}

const LAYER_INDEX: Record<string, number> = { validate: 1, trust: 2, gate: 3, spend: 4, permission: 5, sandbox: 6, approval: 7, filter: 8 };
