import { z } from 'zod';

/**
 * Claude Code's plugin manifest, `.claude-plugin/plugin.json`, as Claude Code reads it. Only `name`
 * is required; everything else is optional, and keys this version does not know are allowed (Claude
 * Code adds fields over time; a plugin written for a newer version must still load).
 *
 *   {"name": "security-guidance", "version": "2.1.0", "description": "...", "author": {"name": "..."},
 *    "hooks": "./hooks/extra.json" | ["./a.json", ...] | { ...hooks section... },
 *    "mcpServers": "./mcp.json" | ["./a.json"] | {"name": {"command": "...", "args": [...]}},
 *    "commands": ..., "agents": ..., "skills": ..., "outputStyles": ..., "lspServers": ...}
 *
 * Without a `hooks` field, `hooks/hooks.json` is read when it exists; without `mcpServers`,
 * `.mcp.json`. Paths are relative to the plugin folder and must stay inside it.
 */

export const CLAUDE_MANIFEST = '.claude-plugin/plugin.json';
export const DEFAULT_HOOKS_FILE = 'hooks/hooks.json';
export const DEFAULT_MCP_FILE = '.mcp.json';

/** Claude Code's names are kebab-case; Kairos also allows "." and "_" (its own manifest's rule). */
export const PluginName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'is not a valid plugin name — use lower-case letters, digits, ".", "_" and "-", e.g. "lint-guard"');

const RelativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), { message: 'must be a path inside the plugin folder, e.g. "./hooks/extra.json" — no absolute paths, no ".."' });

const Paths = z.union([RelativePath, z.array(RelativePath)]);

export const ClaudePluginManifest = z.looseObject({
  name: PluginName,
  version: z.string().min(1, 'is empty — write e.g. "1.0.0", or remove it').optional(),
  description: z.string().optional(),
  author: z.union([z.string(), z.looseObject({ name: z.string() })], { message: 'must be a name or {"name": "...", "email": "..."}' }).optional(),
  homepage: z.string().optional(),
  repository: z.unknown().optional(),
  license: z.string().optional(),
  keywords: z.array(z.string()).optional(),
  hooks: z.union([Paths, z.record(z.string(), z.unknown())], { message: 'must be a path to a hooks file, a list of paths, or a hooks section {"PreToolUse": [...]}' }).optional(),
  mcpServers: z.union([Paths, z.record(z.string(), z.unknown())], { message: 'must be a path to an .mcp.json file, a list of paths, or {"server": {"command": "..."}}' }).optional(),
});
export type ClaudePluginManifest = z.infer<typeof ClaudePluginManifest>;

/** Parts of a Claude Code plugin Kairos has no equivalent of: listed, never silently dropped. */
export const UNUSED_COMPONENTS: Record<string, string> = {
  commands: 'Kairos has no slash commands',
  agents: 'Kairos runs its own agent, not named subagents',
  skills: 'Kairos does not load skills',
  outputStyles: 'Kairos has no output styles',
  lspServers: 'Kairos starts no language servers',
  userConfig: 'Kairos does not ask for plugin settings; set environment variables instead',
  channels: 'Kairos has no channels',
};

/** Default folders of those parts, noted when present. */
export const UNUSED_FOLDERS = ['commands', 'agents', 'skills'] as const;

/**
 * One MCP server entry as Claude Code writes it (.mcp.json or plugin.json): stdio
 * ({command, args, env}, `type` "stdio" or absent) or remote ({type: "http" | "sse", url, headers}).
 */
export const ClaudeMcpServer = z.looseObject({
  type: z.enum(['stdio', 'http', 'sse', 'ws'], { message: 'must be "stdio", "http" or "sse"' }).optional(),
  command: z.string().min(1).optional(),
  args: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  url: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
});
export type ClaudeMcpServer = z.infer<typeof ClaudeMcpServer>;
