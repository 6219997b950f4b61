import { parseRule, ruleMatchesCommand, ruleMatchesMcp, ruleMatchesPath, toolCallFor, RuleSyntaxError, type Rule } from '../../policy/rules.js';
import { decomposeCommand } from '../../policy/shell.js';
import { resolveInRoot } from '../../policy/validate.js';
import { hookToolName } from './claude-tools.js';

/**
 * A hook handler's `if` condition (Claude Code 2.1.85+): one permission rule, in the syntax of
 * `permissions.allow`, tested against the tool call before the hook's process is started:
 *
 *   {"matcher": "Bash", "hooks": [{"type": "command", "if": "Bash(git commit:*)", "command": "..."}]}
 *
 * - Only tool events have a tool call to test (PreToolUse, PostToolUse, PostToolUseFailure,
 *   PermissionRequest); on any other event a hook with `if` never runs (the registry says so).
 * - `Bash(...)` matches when any simple command of the command line matches (`npm test && git
 *   commit -m x` runs a commit). A command line that cannot be parsed matches: like Claude Code,
 *   the filter fails open, because a guard hook that silently stops running is worse than one that
 *   runs once too often.
 * - `Read(...)` covers every reading tool (read_file / Read, list_files / Glob, grep / Grep),
 *   `Edit(...)` and `Write(...)` every writing tool, with the path rules of the permission layer.
 * - Any other rule names a tool: Kairos's name or Claude Code's (`Grep`, `Glob`), an MCP tool
 *   (`mcp__server__tool`) or a plugin tool.
 */

export const CONDITION_EVENTS = new Set(['PreToolUse', 'PostToolUse', 'PostToolUseFailure', 'PermissionRequest']);

/** Throws RuleSyntaxError (with the rule syntax's own fix) for a condition that is not a rule. */
export function parseCondition(text: string): Rule {
  if (text.trim() === '') throw new RuleSyntaxError('is empty — write a permission rule such as "Bash(git commit:*)" or "Edit(src/**)", or remove "if"');
  return parseRule(text);
}

export interface ConditionSubject {
  /** Kairos's tool name (run_command, edit_file, mcp__s__t, plugin__p__t, ...). */
  tool: string;
  input: Record<string, unknown>;
  /** Where relative paths in the input are resolved (the task's worktree). */
  workDir: string;
  home: string;
}

export function conditionMatches(rule: Rule, s: ConditionSubject): boolean {
  const call = toolCallFor(s.tool, s.input);
  switch (rule.tool) {
    case 'Bash': {
      if (call.tool !== 'Bash') return false;
      if (rule.specifier === undefined) return true;
      const analysis = decomposeCommand(call.command);
      if (analysis.problems.length > 0) return true; // fails open, see above
      return analysis.parts.some((p) => p.problems.length > 0 || ruleMatchesCommand(rule, p.text));
    }
    case 'Read':
    case 'Edit':
    case 'Write': {
      if (call.tool !== 'Read' && call.tool !== 'Edit' && call.tool !== 'Write') return false;
      if (rule.specifier === undefined) return ruleMatchesPath(rule, call.tool, { rel: '.', abs: s.workDir }, s.home);
      const r = resolveInRoot(s.workDir, call.path, s.home);
      // A path the validate layer will refuse anyway: let the hook see it (fail open).
      if (!r.ok) return true;
      return ruleMatchesPath(rule, call.tool, { rel: r.rel, abs: r.abs }, s.home);
    }
    default:
      if (call.tool === 'mcp') return ruleMatchesMcp(rule, call.server, call.name);
      if (rule.tool !== s.tool && rule.tool !== hookToolName(s.tool)) return false;
      if (rule.specifier === undefined) return true;
      // Grep(…) / Glob(…): Claude Code gives these no specifier of their own; read it as the path rule it looks like.
      if (call.tool === 'Read') return conditionMatches({ ...rule, tool: 'Read' }, s);
      return false;
  }
}
