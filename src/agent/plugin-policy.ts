import type { Policy } from '../policy/schema.js';
import type { LogSink } from '../report/logger.js';
import type { Db } from '../store/db.js';
import { loadUserPlugins, type Plugin } from './plugins.js';

/** What the plugins came to, for `kairos status`: each loaded plugin and what it did not get, and the folders that did not load. */
export interface PluginReport {
  plugins: {
    name: string;
    version: string;
    dir: string;
    format: Plugin['format'];
    /** The folder's explicit trust ('untrusted' = loaded for where it lies, without its allow rules). */
    trust: Plugin['trustStatus'];
    refused: Plugin['refused'];
    unused: Plugin['unused'];
  }[];
  errors: string[];
}

/**
 * The user's policy with what their plugins contribute: triggers (a name the user already uses stays
 * the user's), permission rules (a plugin's allow rules survive loading only when the user trusted
 * the plugin's folder explicitly; deny and ask always apply) and MCP servers, named
 * `plugin_<plugin>_<server>` as Claude Code names them (a server the user's policy names the same
 * stays the user's).
 */
export function loadPluginPolicy(policy: Policy, home: string, log: LogSink, db?: Db): { policy: Policy; report: PluginReport } {
  const { plugins, errors } = loadUserPlugins(home, db);
  for (const e of errors) log.warn({ err: e.message }, 'plugin not loaded');
  const report: PluginReport = {
    plugins: plugins.map((p) => ({ name: p.name, version: p.version, dir: p.dir, format: p.format, trust: p.trustStatus, refused: p.refused, unused: p.unused })),
    errors: errors.map((e) => e.message),
  };
  if (!plugins.length) return { policy, report };
  const triggers = [...policy.triggers];
  const allow = [...(policy.permissions?.allow ?? [])];
  const ask = [...(policy.permissions?.ask ?? [])];
  const deny = [...(policy.permissions?.deny ?? [])];
  const mcpServers = { ...policy.mcp_servers };
  for (const p of plugins) {
    for (const r of p.refused) log.warn({ plugin: p.name, what: r.what, why: r.why }, 'plugin entry refused');
    for (const t of p.triggers) {
      if (triggers.some((x) => x.name === t.name)) log.warn({ plugin: p.name, trigger: t.name }, "plugin trigger skipped: the user's policy has a trigger of that name");
      else triggers.push(t);
    }
    allow.push(...p.permissions.allow);
    ask.push(...p.permissions.ask);
    deny.push(...p.permissions.deny);
    for (const [name, server] of Object.entries(p.mcpServers)) {
      const key = pluginServerName(p.name, name);
      if (key in mcpServers) log.warn({ plugin: p.name, server: name }, "plugin MCP server skipped: the user's policy has a server of that name");
      else mcpServers[key] = server;
    }
  }
  log.info({ plugins: plugins.map((p) => `${p.name}@${p.version}`) }, 'plugins loaded');
  return { policy: { ...policy, triggers, permissions: { allow, ask, deny }, ...(Object.keys(mcpServers).length ? { mcp_servers: mcpServers } : {}) }, report };
}

export function withPlugins(policy: Policy, home: string, log: LogSink, db?: Db): Policy {
  return loadPluginPolicy(policy, home, log, db).policy;
}

/** `plugin_<plugin>_<server>`, its tools `mcp__plugin_<plugin>_<server>__<tool>` (Claude Code's names), kept a valid server name. */
export function pluginServerName(plugin: string, server: string): string {
  return `plugin_${plugin}_${server}`.replace(/[^A-Za-z0-9_-]/g, '_').replace(/_+/g, '_').replace(/_$/, '');
}
