import path from 'node:path';

/**
 * Kairos's tools under the names and input fields Claude Code uses, so a hook written for
 * Claude Code (matcher "Edit|Write", `jq -r .tool_input.file_path`) works unchanged.
 *
 * A hook sees `tool_name` as the Claude Code name when there is one ("Bash" for run_command) and
 * `kairos_tool_name` as Kairos's; matchers are tested against both. `tool_input` carries both
 * spellings of each field (`path` and the absolute `file_path`, `old` and `old_string`, ...).
 * An `updatedInput` may use either spelling; it is mapped back to Kairos's fields here.
 */

interface Alias {
  claude: string;
  /** Kairos field → Claude Code field. */
  fields: Record<string, string>;
  /** Kairos field holding a repository-relative path that Claude Code passes as an absolute path. */
  pathField?: string;
}

const ALIASES: Record<string, Alias> = {
  run_command: { claude: 'Bash', fields: { command: 'command' } },
  read_file: { claude: 'Read', fields: { path: 'file_path' }, pathField: 'path' },
  write_file: { claude: 'Write', fields: { path: 'file_path', content: 'content' }, pathField: 'path' },
  edit_file: { claude: 'Edit', fields: { path: 'file_path', old: 'old_string', new: 'new_string' }, pathField: 'path' },
  list_files: { claude: 'Glob', fields: { pattern: 'pattern' } },
  grep: { claude: 'Grep', fields: { pattern: 'pattern', path: 'path' } },
};

/** The names a tool goes by, Kairos's first. */
export function toolNames(tool: string): string[] {
  const alias = ALIASES[tool];
  return alias ? [tool, alias.claude] : [tool];
}

/** The `tool_name` a hook sees: Claude Code's name when the tool has one. */
export function hookToolName(tool: string): string {
  return ALIASES[tool]?.claude ?? tool;
}

/** The tool input as a hook sees it: Kairos's fields plus Claude Code's spelling of each. */
export function toHookToolInput(tool: string, input: Record<string, unknown>, workDir: string): Record<string, unknown> {
  const alias = ALIASES[tool];
  if (!alias) return { ...input };
  const out: Record<string, unknown> = { ...input };
  for (const [kairos, claude] of Object.entries(alias.fields)) {
    if (!(kairos in input) || claude === kairos) continue;
    const value = input[kairos];
    out[claude] = kairos === alias.pathField && typeof value === 'string' ? path.resolve(workDir, value) : value;
  }
  return out;
}

/**
 * Maps a hook's `updatedInput` back to Kairos's fields. When both spellings are present and
 * disagree, the one that differs from what the hook was sent is the change it meant. Unknown keys
 * are kept, so the tool's own schema rejects them rather than them vanishing here.
 */
export function fromHookToolInput(
  tool: string,
  updated: Record<string, unknown>,
  sent: Record<string, unknown>,
  workDir: string,
): Record<string, unknown> {
  const alias = ALIASES[tool];
  if (!alias) return { ...updated };
  const out: Record<string, unknown> = { ...updated };
  for (const [kairos, claude] of Object.entries(alias.fields)) {
    if (claude === kairos || !(claude in updated)) continue;
    const claudeValue = updated[claude];
    delete out[claude];
    const claudeChanged = !Object.is(claudeValue, sent[claude]);
    const kairosChanged = kairos in updated && !Object.is(updated[kairos], sent[kairos]);
    if (kairosChanged || !claudeChanged) continue;
    out[kairos] =
      kairos === alias.pathField && typeof claudeValue === 'string' && path.isAbsolute(claudeValue)
        ? path.relative(workDir, claudeValue).split(path.sep).join('/')
        : claudeValue;
  }
  return out;
}
