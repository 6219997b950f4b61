import fs from 'node:fs';
import path from 'node:path';
import type { Trigger } from '../policy/schema.js';
import type { HookSource } from './hooks/registry.js';
import type { CommandTool } from './plugins/command-tool.js';
import { describeManifestIssues, MANIFEST_FILE, PluginManifest, type McpServer } from './plugins/manifest.js';

/**
 * Plugins: a folder with a `kairos-plugin.json` manifest (src/agent/plugins/manifest.ts) that
 * contributes triggers, tools (command tools or MCP servers), hooks and permission rules.
 *
 * Trust, because a plugin runs code:
 * - A folder under $KAIROS_HOME/plugins/ is loaded: the user put it there. Its realpath must be
 *   inside that folder, so a symlink pointing elsewhere does not count.
 * - Any other folder is loaded only when `trusted(dir)` says the user trusted that folder.
 *   Otherwise it is refused (an error in `errors`), and none of it is read further.
 * - Permission rules: a plugin may always add `deny` and `ask` rules (they only tighten). Its
 *   `allow` rules loosen the user's policy, so they are kept only when the user trusted the plugin
 *   folder itself (`trusted(dir)` is true); a plugin that is loaded only for where it lies gets its
 *   allow rules listed in `refused`. Installing a plugin must not silently grant it `Bash(*)`.
 *
 * A broken manifest skips that plugin, with an error naming the file, the field and the fix; the
 * other plugins still load.
 */

export { runCommandTool, type CommandTool, type CommandToolResult, type RunCommandToolOptions } from './plugins/command-tool.js';
export { PluginManifest, MANIFEST_FILE } from './plugins/manifest.js';

export class PluginError extends Error {
  override readonly name = 'PluginError';
  constructor(
    readonly dir: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Plugin {
  name: string;
  version: string;
  description: string;
  /** The folder's realpath. */
  dir: string;
  manifestFile: string;
  /** 'explicit': the user trusted this folder; 'location': it lies under $KAIROS_HOME/plugins. */
  trust: 'explicit' | 'location';
  triggers: Trigger[];
  tools: CommandTool[];
  mcpServers: Record<string, McpServer>;
  /** Pass to loadHookSources({extra}) (src/agent/hooks/sources.ts); undefined when the plugin has no hooks. */
  hooks: HookSource | undefined;
  permissions: { allow: string[]; ask: string[]; deny: string[] };
  /** What the plugin asked for and did not get, with why. */
  refused: { what: string; why: string }[];
}

export interface LoadPluginsOptions {
  /** Folders under $KAIROS_HOME/plugins are trusted by their location. */
  kairosHome?: string;
  /** Whether the user has trusted this plugin folder (its realpath) explicitly. */
  trusted?: (dir: string) => boolean;
}

export interface LoadedPlugins {
  plugins: Plugin[];
  errors: PluginError[];
}

/** The plugin folders under $KAIROS_HOME/plugins, sorted. */
export function pluginDirs(kairosHome: string): string[] {
  const root = path.join(kairosHome, 'plugins');
  let names: string[];
  try {
    names = fs.readdirSync(root).sort();
  } catch {
    return [];
  }
  return names.map((n) => path.join(root, n)).filter((d) => isDirectory(d));
}

export function loadPlugins(dirs: readonly string[], opts: LoadPluginsOptions = {}): LoadedPlugins {
  const plugins: Plugin[] = [];
  const errors: PluginError[] = [];
  const trustedRoot = opts.kairosHome ? realpathOrUndefined(path.join(opts.kairosHome, 'plugins')) : undefined;
  const toolOwner = new Map<string, string>();

  for (const given of dirs) {
    const dir = realpathOrUndefined(given);
    if (!dir || !isDirectory(dir)) {
      errors.push(new PluginError(given, `${given}: not a folder — a plugin is a folder with a ${MANIFEST_FILE} in it`));
      continue;
    }
    const explicit = opts.trusted?.(dir) === true;
    const byLocation = trustedRoot !== undefined && isInside(dir, trustedRoot);
    if (!explicit && !byLocation) {
      errors.push(
        new PluginError(
          dir,
          `${dir}: plugin folder is not trusted, so it was not loaded — move it under $KAIROS_HOME/plugins/, or review it and trust the folder`,
        ),
      );
      continue;
    }
    const loaded = loadOne(dir, explicit ? 'explicit' : 'location');
    if (loaded instanceof PluginError) {
      errors.push(loaded);
      continue;
    }
    const clashName = plugins.find((p) => p.name === loaded.name);
    if (clashName) {
      errors.push(new PluginError(dir, `${loaded.manifestFile}: name: '${loaded.name}' is already used by the plugin in ${clashName.dir} — rename one of them`));
      continue;
    }
    const clashTool = loaded.tools.find((t) => toolOwner.has(t.name));
    if (clashTool) {
      errors.push(
        new PluginError(dir, `${loaded.manifestFile}: tools: '${clashTool.name}' is already a tool of plugin '${toolOwner.get(clashTool.name)}' — rename it`),
      );
      continue;
    }
    for (const t of loaded.tools) toolOwner.set(t.name, loaded.name);
    plugins.push(loaded);
  }
  return { plugins, errors };
}

/** The hook sources of the loaded plugins, in load order. */
export function pluginHookSources(plugins: readonly Plugin[]): HookSource[] {
  return plugins.flatMap((p) => (p.hooks ? [p.hooks] : []));
}

function loadOne(dir: string, trust: Plugin['trust']): Plugin | PluginError {
  const manifestFile = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = fs.readFileSync(manifestFile, 'utf8');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    return new PluginError(
      dir,
      missing
        ? `${manifestFile}: missing — a plugin folder needs a ${MANIFEST_FILE} with at least {"name", "version", "description"}`
        : `${manifestFile}: cannot read it (${(e as Error).message}) — check its permissions`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return new PluginError(dir, `${manifestFile}: not valid JSON (${(e as Error).message}) — fix the syntax`);
  }
  const parsed = PluginManifest.safeParse(json);
  if (!parsed.success) {
    return new PluginError(dir, `${manifestFile}: ${describeManifestIssues(parsed.error).join('; ')}`);
  }
  const m = parsed.data;
  const refused: Plugin['refused'] = [];
  const permissions = { allow: [...(m.permissions?.allow ?? [])], ask: [...(m.permissions?.ask ?? [])], deny: [...(m.permissions?.deny ?? [])] };
  if (trust !== 'explicit' && permissions.allow.length > 0) {
    for (const rule of permissions.allow) {
      refused.push({
        what: `permissions.allow: ${rule}`,
        why: 'a plugin may add allow rules only when you have trusted its folder explicitly — review the plugin and trust it, or add the rule to your own policy',
      });
    }
    permissions.allow = [];
  }
  return {
    name: m.name,
    version: m.version,
    description: m.description,
    dir,
    manifestFile,
    trust,
    triggers: m.triggers ?? [],
    tools: (m.tools ?? []).map((t) => ({ ...t, plugin: m.name, dir })),
    mcpServers: m.mcp_servers ?? {},
    hooks: m.hooks !== undefined ? { label: `${manifestFile}#hooks`, trusted: true, hooks: m.hooks, pluginRoot: dir } : undefined,
    permissions,
    refused,
  };
}

function realpathOrUndefined(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}
