import { runHookCommand } from '../hooks/runner.js';
import type { PluginTool } from './manifest.js';
import { isRecord } from '../../core/record.js';

/**
 * Runs a plugin's command tool: the model's input as JSON on stdin, the answer on stdout (a JSON
 * value, or plain text), exit 0 = success. Like a hook, it runs in its own process group with a
 * time limit and bounded output, and every failure is a value the model can read.
 */

export interface CommandTool extends PluginTool {
  /** The plugin's name and folder (the tool's working directory by default, and $KAIROS_PLUGIN_ROOT). */
  plugin: string;
  dir: string;
}

/** The model-facing name of a plugin's command tool; the permission rule that allows it is the same text. */
export function pluginToolName(tool: { plugin: string; name: string }): string {
  return `plugin__${tool.plugin}__${tool.name}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

export interface CommandToolResult {
  ok: boolean;
  /** What the model sees: the tool's stdout (JSON re-printed compactly), or why it failed. */
  output: string;
  /** The parsed stdout when it was JSON. */
  json?: unknown;
}

export interface RunCommandToolOptions {
  /** Default: the plugin's folder. The agent loop passes the task's worktree. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Seconds when the tool sets no `timeout`. Default 60. */
  defaultTimeoutSec?: number;
  outputLimit?: number;
  /** Lets the caller run the command inside the sandbox (e.g. prefixing bubblewrap). */
  wrapCommand?: (command: string) => string;
}

export async function runCommandTool(tool: CommandTool, input: unknown, opts: RunCommandToolOptions = {}): Promise<CommandToolResult> {
  const problem = checkInput(tool.input_schema, input);
  if (problem) return { ok: false, output: `invalid input for ${tool.name}: ${problem}` };
  const timeoutSec = tool.timeout ?? opts.defaultTimeoutSec ?? 60;
  const r = await runHookCommand({
    command: opts.wrapCommand ? opts.wrapCommand(tool.command) : tool.command,
    stdin: JSON.stringify(input),
    cwd: opts.cwd ?? tool.dir,
    env: { ...(opts.env ?? process.env), KAIROS_PLUGIN_ROOT: tool.dir, CLAUDE_PLUGIN_ROOT: tool.dir, KAIROS_TOOL_NAME: tool.name },
    timeoutMs: Math.round(timeoutSec * 1000),
    ...(opts.outputLimit !== undefined ? { outputLimit: opts.outputLimit } : {}),
  });
  if (r.kind === 'timeout') return { ok: false, output: `${tool.name} ${r.message}` };
  if (r.kind !== 'ok') {
    const detail = (r.stderr.trim() || r.stdout.trim()).slice(0, 4000);
    const how = r.message ?? `exited with code ${r.exitCode}`;
    return { ok: false, output: `${tool.name} ${how}${detail ? `: ${detail}` : ''}` };
  }
  const text = r.stdout.trim();
  if ((text.startsWith('{') || text.startsWith('[')) && !r.stdoutTruncated) {
    try {
      const json: unknown = JSON.parse(text);
      return { ok: true, output: JSON.stringify(json), json };
    } catch {
      // Not JSON after all: plain text is a valid answer too.
    }
  }
  return { ok: true, output: r.stdout };
}

/**
 * A shallow check of the input against the tool's JSON schema: an object, with the required
 * properties, each listed property of the declared primitive type. Enough to turn a model's
 * slip into a readable error before a process is started; the tool itself must still treat its
 * input as untrusted.
 */
export function checkInput(schema: PluginTool['input_schema'], input: unknown): string | undefined {
  if (!isRecord(input)) return 'expected a JSON object';
  const obj = input;
  for (const key of schema.required ?? []) {
    if (!(key in obj)) return `'${key}' is required`;
  }
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    if (!(key in obj)) continue;
    const want = prop.type;
    if (typeof want !== 'string') continue;
    if (!hasType(obj[key], want)) return `'${key}' must be ${want === 'integer' ? 'an integer' : `a${/^[aeiou]/.test(want) ? 'n' : ''} ${want}`}`;
  }
  return undefined;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'null':
      return value === null;
    default:
      return true;
  }
}
