import type Anthropic from '@anthropic-ai/sdk';
import { runCommandTool, type CommandTool, type Plugin } from './plugins.js';
import { pluginToolName } from './plugins/command-tool.js';

export { pluginToolName };

/**
 * Plugins' command tools as agent tools. Like MCP tools they pass the hooks and the eight policy
 * layers (an unmatched one is ask), and their output is fenced as untrusted by the caller.
 */
export function pluginToolbox(plugins: readonly Plugin[]): {
  tools(): Anthropic.Tool[];
  has(name: string): boolean;
  call(name: string, input: Record<string, unknown>): Promise<{ ok: boolean; output: string }>;
} {
  const byName = new Map<string, CommandTool>();
  for (const p of plugins) for (const t of p.tools) byName.set(pluginToolName(t), t);
  return {
    tools: () =>
      [...byName].map(([name, t]) => ({ name, description: `${t.description} (plugin ${t.plugin})`, input_schema: t.input_schema as Anthropic.Tool.InputSchema })),
    has: (name) => byName.has(name),
    call: async (name, input) => {
      const t = byName.get(name);
      if (!t) return { ok: false, output: `unknown plugin tool '${name}'` };
      const r = await runCommandTool(t, input);
      return { ok: r.ok, output: r.output };
    },
  };
}
