import { z } from 'zod';
import { McpServerConfig, McpServerName, Permissions, Trigger } from '../../policy/schema.js';
import { PluginName } from './claude-manifest.js';

/**
 * The plugin manifest, `kairos-plugin.json` at the root of a plugin folder. Strict: a misspelt key
 * is an error, not a silently missing feature.
 *
 *   {"name": "lint-guard", "version": "1.0.0", "description": "...",
 *    "triggers": [ ...policy triggers... ],
 *    "tools": [{"name": "lint_file", "description": "...", "input_schema": {...}, "command": "./lint.sh", "timeout": 30}],
 *    "mcp_servers": {"docs": {"command": "node", "args": ["server.js"]}, "remote": {"url": "https://..."}},
 *    "hooks": { ...Claude Code hooks section, checked by src/agent/plugins/folder.ts... },
 *    "permissions": {"allow": [], "ask": [], "deny": []}}
 */

export const MANIFEST_FILE = 'kairos-plugin.json';

/** Names the built-in tools use; a plugin tool may not shadow one. */
export const BUILTIN_TOOLS = ['read_file', 'list_files', 'grep', 'git', 'run_command', 'write_file', 'edit_file', 'propose', 'notify', 'sleep'] as const;

const JsonSchemaObject = z.looseObject({
  type: z.literal('object', { message: 'must be "object" — a tool takes a JSON object as input' }),
  properties: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
  required: z.array(z.string()).optional(),
});

export const PluginTool = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'is not a valid tool name — use letters, digits, "_" and "-", starting with a letter, at most 64 characters')
      .refine((n) => !(BUILTIN_TOOLS as readonly string[]).includes(n), { message: 'is the name of a built-in tool — choose another name' })
      .refine((n) => !n.startsWith('mcp__'), { message: 'starts with "mcp__", which is reserved for MCP tools — choose another name' }),
    description: z.string().min(1, 'is empty — say what the tool does, for the model'),
    input_schema: JsonSchemaObject,
    command: z.string().trim().min(1, 'is empty — write the shell command that implements the tool'),
    timeout: z.number().positive('must be a positive number of seconds').max(3600, 'is over an hour — use at most 3600 seconds').optional(),
  })
  .strict();
export type PluginTool = z.infer<typeof PluginTool>;

/** A plugin's MCP server is written like one in the policy's `mcp_servers`. */
export const McpServer = McpServerConfig;
export type McpServer = McpServerConfig;

function uniqueToolNames(tools: PluginTool[], ctx: z.core.$RefinementCtx<PluginTool[]>): void {
  const seen = new Set<string>();
  tools.forEach((t, i) => {
    if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `'${t.name}' is listed twice — tool names must be unique` });
    seen.add(t.name);
  });
}

export const PluginManifest = z
  .object({
    name: PluginName,
    version: z.string().regex(/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/, 'is not a version — write e.g. "1.0.0"'),
    description: z.string().min(1, 'is empty — say what the plugin does'),
    triggers: z.array(Trigger).optional(),
    tools: z.array(PluginTool).superRefine(uniqueToolNames).optional(),
    mcp_servers: z.record(McpServerName, McpServer).optional(),
    hooks: z.unknown().optional(),
    permissions: Permissions.optional(),
  })
  .strict();
export type PluginManifest = z.infer<typeof PluginManifest>;

/** One issue as `what is wrong — how to fix` (the field and the place are added by the caller). */
export function describeManifestIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const known = issue.path.length === 0 ? '; the keys are name, version, description, triggers, tools, mcp_servers, hooks, permissions' : '';
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')} — check the spelling${known}`;
  }
  if (issue.code === 'invalid_type') return issue.message.endsWith('received undefined') ? 'is missing — add it' : `${issue.message} — fix the value's type`;
  return issue.message;
}
