import fs from 'node:fs';
import path from 'node:path';
import { PolicyError } from '../policy/load.js';
import type { Trigger } from '../policy/schema.js';
import type { HookSource } from './hooks/registry.js';
import { pluginToolName, type CommandTool } from './plugins/command-tool.js';
import { CLAUDE_MANIFEST } from './plugins/claude-manifest.js';
import { readPluginFolder, type PluginContents } from './plugins/folder.js';
import { MANIFEST_FILE, type McpServer } from './plugins/manifest.js';
import { pluginTrustStatus, type PluginTrustStatus } from './plugins/trust.js';
import type { Db } from '../store/db.js';
import { errnoCode, isAbsent, type KairosErrorOptions, UserInputError, messageOf } from '../core/errors.js';

/**
 * Plugins: a folder that contributes triggers, tools (command tools or MCP servers), hooks and
 * permission rules — a Claude Code plugin as it is (`.claude-plugin/plugin.json`,
 * `hooks/hooks.json`, `.mcp.json`), a Kairos plugin (`kairos-plugin.json`), or both
 * (src/agent/plugins/folder.ts).
 *
 * Trust, because a plugin runs code:
 * - A folder under $KAIROS_HOME/plugins/ is loaded: the user put it there. Its realpath must be
 *   inside that folder, so a symlink pointing elsewhere does not count.
 * - Any other folder is loaded only when `trusted(dir)` says the user trusted that folder.
 *   Otherwise it is refused (an error in `errors`), and none of it is read further.
 * - Permission rules: a plugin may always add `deny` and `ask` rules (they only tighten). Its
 *   `allow` rules loosen the user's policy, so they are kept only when the user trusted the plugin
 *   folder itself (`kairos trust --plugin NAME`, pinned by sha256: src/agent/plugins/trust.ts) and
 *   it has not changed since; otherwise they are listed in `refused` with the command that trusts
 *   it. Installing a plugin must not silently grant it `Bash(*)`.
 *
 * A broken plugin is skipped, with an error naming file:line:col, the field and the fix; the other
 * plugins still load.
 */

export { runCommandTool, type CommandTool } from './plugins/command-tool.js';

export class PluginError extends UserInputError {
  override readonly name = 'PluginError';
  constructor(
    readonly dir: string,
    message: string,
    options?: KairosErrorOptions,
  ) {
    super(message, options);
  }
}

export interface Plugin {
  name: string;
  version: string;
  description: string;
  /** The folder's realpath. */
  dir: string;
  manifestFile: string;
  /** Which manifest(s) the folder has. */
  format: PluginContents['format'];
  /** 'explicit': the user trusted this folder (and it is unchanged); 'location': it lies under $KAIROS_HOME/plugins. */
  trust: 'explicit' | 'location';
  /** The explicit trust of the folder: 'changed' when it was trusted and a file changed since. */
  trustStatus: PluginTrustStatus;
  triggers: Trigger[];
  tools: CommandTool[];
  mcpServers: Record<string, McpServer>;
  /** Pass to loadHookSources({extra}) (src/agent/hooks/sources.ts): one per hooks file. */
  hooks: HookSource[];
  permissions: { allow: string[]; ask: string[]; deny: string[] };
  /** What the plugin asked for and did not get, with why and the command that grants it. */
  refused: { what: string; why: string; fix?: string }[];
  /** Parts that are valid but do nothing in Kairos (a Claude Code plugin's commands, agents, ...). */
  unused: { what: string; why: string }[];
}

export interface LoadPluginsOptions {
  /** Folders under $KAIROS_HOME/plugins are trusted by their location. */
  kairosHome?: string;
  /** Whether the user has trusted this plugin folder (its realpath) explicitly: a boolean, or the pinned status (pluginTrustStatus). */
  trusted?: (dir: string) => boolean | PluginTrustStatus;
  /** $CLAUDE_PLUGIN_DATA of each plugin is `<dataRoot>/<folder name>`. Default `<kairosHome>/plugin-data`. */
  dataRoot?: string;
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
  } catch (e) {
    // No plugins folder: no plugins. An unreadable one is said (its plugins' guards would be dropped unsaid).
    if (isAbsent(e)) return [];
    throw new PluginError(root, `${root}: cannot list the plugins (${errnoCode(e) ?? messageOf(e)}) — check its permissions`, { cause: e });
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
    const answer = opts.trusted?.(dir);
    const status: PluginTrustStatus = answer === true ? 'trusted' : answer === false || answer === undefined ? 'untrusted' : answer;
    const explicit = status === 'trusted';
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
    const dataRoot = opts.dataRoot ?? (opts.kairosHome ? path.join(opts.kairosHome, 'plugin-data') : undefined);
    const loaded = loadOne(dir, explicit ? 'explicit' : 'location', status, dataRoot);
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
  return plugins.flatMap((p) => p.hooks);
}

function loadOne(dir: string, trust: Plugin['trust'], trustStatus: PluginTrustStatus, dataRoot: string | undefined): Plugin | PluginError {
  let c: PluginContents;
  try {
    c = readPluginFolder(dir, dataRoot ? path.join(dataRoot, path.basename(dir)) : undefined);
  } catch (e) {
    if (e instanceof PolicyError) return new PluginError(dir, e.message);
    return new PluginError(dir, `${dir}: cannot read the plugin (${messageOf(e)}) — check the folder's permissions`);
  }
  const refused: Plugin['refused'] = [];
  const permissions = qualifyOwnTools(c);
  if (trust !== 'explicit' && permissions.allow.length > 0) {
    const fix = `kairos trust --plugin ${c.name}`;
    const why =
      trustStatus === 'changed'
        ? `the plugin's files changed since you trusted it — review the change, then run '${fix}' again`
        : `a plugin may add allow rules only when you have trusted its folder — review the plugin, then run '${fix}' (or add the rule to your own policy)`;
    for (const rule of permissions.allow) refused.push({ what: `permissions.allow: ${rule}`, why, fix });
    permissions.allow = [];
  }
  return {
    name: c.name,
    version: c.version,
    description: c.description,
    dir,
    manifestFile: c.manifestFile,
    format: c.format,
    trust,
    trustStatus,
    triggers: c.triggers,
    tools: c.tools.map((t) => ({ ...t, plugin: c.name, dir })),
    mcpServers: c.mcpServers,
    hooks: c.hooks.map((h) => ({ ...h, trusted: true })),
    permissions,
    refused,
    unused: c.unused,
  };
}

/**
 * A plugin's rule that names one of its own command tools by the name in its manifest
 * ("word_count") means that tool, whose rule name is `plugin__<plugin>__<tool>`: otherwise the
 * plugin's own rules could never allow (or deny) its own tools.
 */
export function qualifyOwnTools(c: PluginContents): PluginContents['permissions'] {
  const own = new Map(c.tools.map((t) => [t.name, pluginToolName({ plugin: c.name, name: t.name })]));
  const qualify = (rule: string): string => own.get(rule.trim()) ?? rule;
  return { allow: c.permissions.allow.map(qualify), ask: c.permissions.ask.map(qualify), deny: c.permissions.deny.map(qualify) };
}

/** Whether a folder looks like a plugin (either manifest), for messages that guess what the user meant. */
export function isPluginFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, MANIFEST_FILE)) || fs.existsSync(path.join(dir, CLAUDE_MANIFEST));
}

function realpathOrUndefined(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch (e) {
    if (isAbsent(e)) return undefined;
    throw e;
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch (e) {
    if (isAbsent(e)) return false;
    throw e;
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * The plugins in $KAIROS_HOME/plugins, with their explicit trust read from the store (without a
 * store, as when nothing has been trusted: allow rules refused).
 */
export function loadUserPlugins(home: string, db?: Db): LoadedPlugins {
  return loadPlugins(pluginDirs(home), { kairosHome: home, ...(db ? { trusted: (dir: string) => pluginTrustStatus(db, dir) } : {}) });
}
