import path from 'node:path';
import { allow, ask, combine, deny, type Step, type Verdict } from './decision.js';
import type { LayerContext } from './layers.js';
import { protectedReason } from './protected-paths.js';
import {
  formatToolCall,
  parseRule,
  RuleSyntaxError,
  ruleMatchesMcp,
  ruleMatchesOther,
  ruleMatchesPath,
  type PathTool,
  type Rule,
  type ToolCall,
} from './rules.js';
import { decomposeCommand, isDangerousVariable, type SimpleCommand } from './shell.js';
import { commandVerdict } from './command-rules.js';
import { resolveInRoot, stepRoot } from './validate.js';
import { messageOf } from '../core/errors.js';

/** The `permissions` section of a policy, with every rule parsed once. */
export interface PermissionRules {
  allow: Rule[];
  ask: Rule[];
  deny: Rule[];
}

export function compileRules(p: { allow?: readonly string[]; ask?: readonly string[]; deny?: readonly string[] } | undefined): PermissionRules {
  const each = (list: readonly string[] | undefined, where: string): Rule[] =>
    (list ?? []).map((r, i) => {
      try {
        return parseRule(r);
      } catch (e) {
        throw new RuleSyntaxError(`permissions.${where}[${i}]: ${messageOf(e)}`, { cause: e });
      }
    });
  return { allow: each(p?.allow, 'allow'), ask: each(p?.ask, 'ask'), deny: each(p?.deny, 'deny') };
}

/** One thing a call does (a simple command, a file it writes or reads) and what the rules say about it. */
export interface PartDecision {
  kind: 'command' | 'read' | 'write' | 'tool';
  subject: string;
  verdict: Verdict;
}

export interface PermissionResult {
  verdict: Verdict;
  parts: PartDecision[];
}

export interface PermissionEnv {
  /** Directory relative paths are resolved in and confined to (the worktree). */
  root: string;
  home: string;
}

/** Files outside the root a command may still name as a redirection target. */
const HARMLESS_DEVICES = new Set(['/dev/null', '/dev/stdout', '/dev/stderr', '/dev/tty', '/dev/zero', '/dev/random', '/dev/urandom']);

/** Programs whose non-option arguments are files they change. */
const WRITERS = new Set(['rm', 'rmdir', 'mv', 'cp', 'ln', 'tee', 'touch', 'truncate', 'chmod', 'chown', 'chgrp', 'mkdir', 'install', 'dd', 'sed', 'perl', 'rsync', 'unlink', 'shred', 'patch']);

/**
 * Deny, then ask, then allow: the first list with a matching rule decides; nothing matching is ask.
 * Specificity does not matter (as in Claude Code): an allow rule can never carve a hole in a deny rule.
 */
function lookup(rules: PermissionRules, subject: string, matches: (r: Rule) => boolean): Verdict {
  const d = rules.deny.find(matches);
  if (d) return deny(`${subject} is denied by rule ${d.text}`, d.text);
  const a = rules.ask.find(matches);
  if (a) return ask(`${subject} needs approval by rule ${a.text}`, a.text);
  const ok = rules.allow.find(matches);
  if (ok) return allow(`${subject} is allowed by rule ${ok.text}`, ok.text);
  return ask(`no rule allows ${subject}`);
}

function pathDecision(tool: PathTool, p: string, rules: PermissionRules, env: PermissionEnv): PartDecision {
  const kind = tool === 'Read' ? 'read' : 'write';
  const subject = `${tool}(${p})`;
  const r = resolveInRoot(env.root, p, env.home);
  if (!r.ok) return { kind, subject, verdict: deny(r.reason) };
  if (kind === 'write') {
    const why = protectedReason(r.rel);
    if (why) return { kind, subject, verdict: deny(`${why} — protected paths are never written, whatever the rules say`) };
  }
  return { kind, subject, verdict: lookup(rules, subject, (rule) => ruleMatchesPath(rule, tool, { rel: r.rel, abs: r.abs }, env.home)) };
}

function commandDecisions(part: SimpleCommand, rules: PermissionRules, env: PermissionEnv, named: number[]): PartDecision[] {
  const out: PartDecision[] = [];
  const subject = `Bash(${part.text})`;
  for (const problem of part.problems) out.push({ kind: 'command', subject, verdict: ask(`cannot check ${subject}: ${problem}`) });
  if (part.text !== '') {
    const c = commandVerdict(part, rules, named);
    named.push(c.named);
    out.push({ kind: 'command', subject, verdict: c.verdict });
    const risky = part.assignments.filter(isDangerousVariable);
    if (risky.length) out.push({ kind: 'command', subject, verdict: ask(`${subject} sets ${risky.join(', ')}, which changes what actually runs`) });
    if (WRITERS.has(part.argv[0]!)) {
      for (const a of part.argv.slice(1)) {
        const target = part.argv[0] === 'dd' ? (a.startsWith('of=') ? a.slice(3) : undefined) : a.startsWith('-') ? undefined : a;
        if (!target || target.includes('$') || target === '…') continue;
        const r = resolveInRoot(env.root, target, env.home);
        const why = r.ok ? protectedReason(r.rel) : undefined;
        if (why) out.push({ kind: 'write', subject: `${part.argv[0]} ${target}`, verdict: deny(`${why} — protected paths are never written, whatever the rules say`) });
      }
    }
  } else named.push(0);
  for (const r of part.redirects) {
    if (HARMLESS_DEVICES.has(r.target)) continue;
    if (part.afterCd && !path.isAbsolute(r.target)) {
      out.push({ kind: r.write ? 'write' : 'read', subject: `${r.op} ${r.target}`, verdict: ask(`'${r.target}' is relative to a directory changed by cd earlier in the command`) });
      continue;
    }
    if (r.write) out.push(pathDecision('Edit', r.target, rules, env));
    if (r.read) out.push(pathDecision('Read', r.target, rules, env));
  }
  return out;
}

/** What the rules say about one call, part by part (for explain), and the combined verdict. */
export function checkPermission(call: ToolCall, rules: PermissionRules, env: PermissionEnv): PermissionResult {
  let parts: PartDecision[];
  switch (call.tool) {
    case 'Bash': {
      const analysis = decomposeCommand(call.command);
      parts = analysis.problems.map((p) => ({ kind: 'command' as const, subject: `Bash(${call.command})`, verdict: ask(`cannot check the command: ${p}`) }));
      const named: number[] = []; // per part: how much of its text the rule allowing it spells out
      for (const part of analysis.parts) parts.push(...commandDecisions(part, rules, env, named));
      if (parts.length === 0) parts.push({ kind: 'command', subject: `Bash(${call.command})`, verdict: ask('the command runs nothing that can be checked') });
      break;
    }
    case 'Read':
    case 'Edit':
    case 'Write':
      parts = [pathDecision(call.tool, call.path, rules, env)];
      break;
    case 'mcp':
      parts = [{ kind: 'tool', subject: formatToolCall(call), verdict: lookup(rules, formatToolCall(call), (r) => ruleMatchesMcp(r, call.server, call.name)) }];
      break;
    case 'other':
      parts = [{ kind: 'tool', subject: call.name, verdict: lookup(rules, call.name, (r) => ruleMatchesOther(r, call.name)) }];
      break;
  }
  return { verdict: combine(parts.map((p) => p.verdict)), parts };
}

/**
 * Layer 5. Tool calls by the agent are checked against the rules. A trigger's `run:` command was
 * written by the user in a policy the trust layer vouched for, and starting tasks, model calls and
 * applying proposals are other layers' business, so those pass.
 */
export function permissionLayer(step: Step, ctx: LayerContext): Verdict {
  if (step.action.type !== 'tool') return allow();
  return checkPermission(step.action.call, ctx.rules, { root: stepRoot(step), home: ctx.home }).verdict;
}
