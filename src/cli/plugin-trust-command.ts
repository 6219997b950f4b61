import fs from 'node:fs';
import path from 'node:path';
import { isPluginFolder, pluginDirs, qualifyOwnTools } from '../agent/plugins.js';
import { readPluginFolder, type PluginContents } from '../agent/plugins/folder.js';
import { compileHooksSection } from '../agent/hooks/registry.js';
import { pluginServerName } from '../agent/plugin-policy.js';
import { pluginToolName } from '../agent/plugins/command-tool.js';
import { trustPlugin, untrustPlugin } from '../agent/plugins/trust.js';
import { PolicyError } from '../policy/load.js';
import { openDb, storePath } from '../store/db.js';
import { reloadDaemonIfRunning } from './control-client.js';
import { resolveRepo, UsageError } from './context.js';
import { messageOf } from '../core/errors.js';

/**
 * `kairos trust --plugin NAME`: pins a plugin folder in $KAIROS_HOME/plugins by sha256 over all
 * its files (src/agent/plugins/trust.ts), so its own allow rules apply — until any file in it
 * changes. Before pinning it shows what the plugin runs and what it will be allowed, and it refuses
 * a plugin that does not even load. NAME is the plugin's name, its folder's name, or its path.
 */
export async function trustPluginCommand(home: string, nameOrPath: string, revoke: boolean): Promise<number> {
  const found = findPlugin(home, nameOrPath);
  const db = openDb(storePath(home));
  try {
    if (revoke) {
      const was = untrustPlugin(db, found.dir);
      process.stdout.write(`kairos: plugin ${found.name} (${found.dir}) is ${was ? 'no longer' : 'not'} trusted; its allow rules are refused, its deny and ask rules still apply\n`);
    } else {
      if (found.error) throw new UsageError(`cannot trust plugin ${found.name}: it does not load:\n${found.error}`);
      const c = found.contents!;
      process.stdout.write(describeGrant(found.dir, c));
      const pin = trustPlugin(db, found.dir, c.name);
      process.stdout.write(`kairos: trusted plugin ${c.name} ${c.version}; pinned ${pin.files.length} file${pin.files.length === 1 ? '' : 's'} by sha256 ${pin.digest.slice(0, 12)}\n`);
      process.stdout.write(`a change to any file in ${found.dir} (say, an update) needs 'kairos trust --plugin ${c.name}' again\n`);
    }
  } finally {
    db.close();
  }
  await reloadDaemonIfRunning(home);
  return 0;
}

interface Found {
  dir: string;
  name: string;
  contents?: PluginContents;
  error?: string;
}

function findPlugin(home: string, nameOrPath: string): Found {
  const candidates: Found[] = pluginDirs(home).map((d) => {
    const dir = fs.realpathSync(d);
    try {
      const contents = readPluginFolder(dir, path.join(home, 'plugin-data', path.basename(dir)));
      return { dir, name: contents.name, contents };
    } catch (e) {
      return { dir, name: path.basename(dir), error: e instanceof PolicyError ? e.message : messageOf(e) };
    }
  });
  let real: string | undefined;
  try {
    real = fs.realpathSync(nameOrPath);
  } catch {
    // a name, not a path
  }
  const match = candidates.find((c) => c.name === nameOrPath || path.basename(c.dir) === nameOrPath || c.dir === real);
  if (match) return match;
  const root = path.join(home, 'plugins');
  if (real && fs.statSync(real).isDirectory()) {
    throw new UsageError(`${real} is not in ${root} — copy or link the plugin folder there first (a plugin is loaded only from there), then run 'kairos trust --plugin ${path.basename(real)}'`);
  }
  const names = candidates.map((c) => c.name);
  throw new UsageError(`no plugin named '${nameOrPath}' in ${root}${names.length ? ` — the plugins there are: ${names.join(', ')}` : ' — it has no plugins; put a plugin folder there first'}`);
}

/** What trusting grants, for the user to read before it is pinned. */
function describeGrant(dir: string, c: PluginContents): string {
  const lines = [`Plugin ${c.name} ${c.version} in ${dir}${c.description ? `: ${c.description}` : ''}`];
  const allow = qualifyOwnTools(c).allow;
  if (allow.length) {
    lines.push('Trusting it lets these rules of the plugin allow tool calls without asking:');
    for (const r of allow) lines.push(`  allow ${r}`);
  } else lines.push('It has no allow rules of its own; trusting it changes nothing the policy allows (its hooks and tools run either way).');
  const commands = c.hooks.flatMap((h) => compileHooksSection(h.hooks).hooks.map((k) => `  ${k.event}${k.matcher ? ` [${k.matcher}]` : ''}: ${k.command}`));
  if (commands.length) lines.push('Its hooks run:', ...commands);
  for (const t of c.tools) lines.push(`  tool ${pluginToolName({ plugin: c.name, name: t.name })}: ${t.command}`);
  for (const [name, s] of Object.entries(c.mcpServers)) lines.push(`  MCP server ${pluginServerName(c.name, name)}: ${'command' in s ? [s.command, ...(s.args ?? [])].join(' ') : s.url}`);
  return `${lines.join('\n')}\n`;
}

/** `kairos trust DIR`'s repository; a plugin folder named by mistake gets the command that trusts it. */
export function resolveTrustTarget(dir: string): string {
  try {
    return resolveRepo(dir);
  } catch (e) {
    if (isPluginFolder(dir)) throw new UsageError(`${dir} is a plugin folder, not a repository — trust a plugin with 'kairos trust --plugin ${path.basename(path.resolve(dir))}'`);
    throw e;
  }
}
