import fs from 'node:fs';
import path from 'node:path';
import { repoHookFiles } from '../agent/hooks/sources.js';
import { isPluginFolder, loadPlugins, pluginDirs, type Plugin } from '../agent/plugins.js';
import { CLAUDE_MANIFEST, DEFAULT_HOOKS_FILE } from '../agent/plugins/claude-manifest.js';
import { checkSettingsFile, readPluginFolder } from '../agent/plugins/folder.js';
import { MANIFEST_FILE } from '../agent/plugins/manifest.js';
import { PolicyError } from '../policy/load.js';
import { pluginTrustStatus } from '../agent/plugins/trust.js';
import { openDb, storePath } from '../store/db.js';
import { messageOf, errnoCode } from '../core/errors.js';

/**
 * The JSON half of `kairos policy check`: hook settings ($KAIROS_HOME/hooks.json, a repository's
 * .claude/settings*.json and .kairos/hooks/*.json), plugin folders (manifests, hooks files,
 * .mcp.json) — each problem as `file:line:col: field: what — fix`, the way a session would refuse it.
 */

type Out = { ok(line: string): void; fail(message: string): void };

/** `policy check` without FILE: everything the daemon would read as JSON. Returns the number of files that failed. */
export function checkAllSettings(home: string, repo: string | undefined, out: Out): number {
  let failed = 0;
  const settings = [path.join(home, 'hooks.json')];
  if (repo) settings.push(...repoHookFiles(repo));
  for (const f of settings) if (fs.existsSync(f)) failed += checkOne(f, 'settings', out);
  const dirs = pluginDirs(home);
  if (dirs.length === 0) return failed;
  // Loaded as the daemon loads them, so name and tool clashes count too; trust only decides which allow rules apply.
  const { plugins, errors } = withStore(home, (trusted) => loadPlugins(dirs, { kairosHome: home, ...(trusted ? { trusted } : {}) }));
  for (const p of plugins) out.ok(describePlugin(p));
  for (const e of errors) out.fail(e.message);
  return failed + errors.length;
}

/** `policy check FILE` for a JSON file or a plugin folder. Returns 0 or 1. */
export function checkSettingsPath(target: string, home: string, out: Out): number {
  const abs = path.resolve(target);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    out.fail(`${abs}: cannot read it (${errnoCode(e) ?? messageOf(e)}) — check the path`);
    return 1;
  }
  const base = path.basename(abs);
  const pluginDir = st.isDirectory()
    ? abs
    : base === MANIFEST_FILE
      ? path.dirname(abs)
      : base === 'plugin.json' && path.basename(path.dirname(abs)) === '.claude-plugin'
        ? path.dirname(path.dirname(abs))
        : undefined;
  if (pluginDir) {
    if (st.isDirectory() && !isPluginFolder(pluginDir) && !fs.existsSync(path.join(pluginDir, DEFAULT_HOOKS_FILE))) {
      out.fail(`${pluginDir}: not a plugin folder — it needs a Claude Code ${CLAUDE_MANIFEST} or a Kairos ${MANIFEST_FILE}; to check a policy, name the .yaml file`);
      return 1;
    }
    try {
      const real = fs.realpathSync(pluginDir);
      const c = readPluginFolder(real, path.join(home, 'plugin-data', path.basename(real)));
      out.ok(`${real}: plugin ${c.name} ${c.version} (${formatName(c.format)}): ${c.hooks.length} hooks file${c.hooks.length === 1 ? '' : 's'}, ${Object.keys(c.mcpServers).length} MCP servers${unusedText(c.unused)}`);
      return 0;
    } catch (e) {
      if (!(e instanceof PolicyError)) throw e;
      out.fail(e.message);
      return 1;
    }
  }
  const kind = base === '.mcp.json' ? 'mcp' : base === 'hooks.json' && path.basename(path.dirname(abs)) === 'hooks' ? 'hooks' : 'settings';
  return checkOne(abs, kind, out);
}

function checkOne(file: string, kind: 'settings' | 'hooks' | 'mcp', out: Out): number {
  try {
    const r = checkSettingsFile(file, kind);
    out.ok(kind === 'mcp' ? `${file}: ${r.servers.length} MCP server${r.servers.length === 1 ? '' : 's'} (${r.servers.join(', ') || 'none'})${unusedText(r.unused)}` : `${file}: ${r.hooks} hook${r.hooks === 1 ? '' : 's'}${unusedText(r.unused)}`);
    return 0;
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    out.fail(e.message);
    return 1;
  }
}

function describePlugin(p: Plugin): string {
  const hooks = p.hooks.length;
  const refused = p.refused.length ? `; ${p.refused.length} allow rule${p.refused.length === 1 ? '' : 's'} refused until you run '${p.refused[0]!.fix ?? `kairos trust --plugin ${p.name}`}'` : '';
  return `${p.dir}: plugin ${p.name} ${p.version} (${formatName(p.format)}): ${hooks} hooks file${hooks === 1 ? '' : 's'}, ${p.tools.length} tools, ${Object.keys(p.mcpServers).length} MCP servers${refused}${unusedText(p.unused)}`;
}

function formatName(f: Plugin['format']): string {
  return f === 'claude' ? 'Claude Code plugin' : f === 'kairos' ? 'Kairos plugin' : 'Claude Code plugin with a Kairos manifest';
}

function unusedText(unused: readonly { what: string; why: string }[]): string {
  return unused.length ? `; not used by Kairos: ${unused.map((u) => `${u.what} (${u.why})`).join('; ')}` : '';
}

/** The plugins' trust lives in the store; a home without a store has trusted none (and is not given one by a check). */
function withStore<T>(home: string, fn: (trusted: ((dir: string) => ReturnType<typeof pluginTrustStatus>) | undefined) => T): T {
  if (!fs.existsSync(storePath(home))) return fn(undefined);
  const db = openDb(storePath(home));
  try {
    return fn((dir) => pluginTrustStatus(db, dir));
  } finally {
    db.close();
  }
}
