import fs from 'node:fs';
import path from 'node:path';
import { PolicyError, type PolicyProblem } from '../../policy/load.js';
import { readJsonFile, zodProblems, type JsonPath, type LocatedJson } from '../../policy/json-file.js';
import { McpServerConfig, McpServerName, type Trigger } from '../../policy/schema.js';
import { compileHooksSection } from '../hooks/registry.js';
import type { HookSource } from '../hooks/registry.js';
import {
  CLAUDE_MANIFEST,
  ClaudeMcpServer,
  ClaudePluginManifest,
  DEFAULT_HOOKS_FILE,
  DEFAULT_MCP_FILE,
  UNUSED_COMPONENTS,
  UNUSED_FOLDERS,
} from './claude-manifest.js';
import { describeManifestIssue, MANIFEST_FILE, PluginManifest, type PluginTool } from './manifest.js';
import { isAbsent } from '../../core/errors.js';

/**
 * Reads one plugin folder, in either format, into what it contributes:
 *
 * - Kairos's own: `kairos-plugin.json` (triggers, command tools, MCP servers, hooks, permission rules).
 * - Claude Code's, unchanged: `.claude-plugin/plugin.json`, `hooks/hooks.json`, `.mcp.json`
 *   (claude-manifest.ts). What Kairos has no equivalent of (commands, agents, skills, ...) is
 *   listed in `unused`, never an error.
 * - Both: a `kairos-plugin.json` next to a Claude Code manifest adds Kairos's parts (triggers,
 *   tools, permissions) to the Claude Code plugin; the names must agree, and hooks and MCP servers
 *   of both are used.
 *
 * Every problem is a PolicyError naming file:line:col, the field and the fix, so the daemon's
 * refusal and `kairos policy check` say the same thing.
 */

export interface PluginContents {
  name: string;
  version: string;
  description: string;
  format: 'kairos' | 'claude' | 'kairos+claude';
  /** The manifest that names the plugin (Kairos's when there are both). */
  manifestFile: string;
  triggers: Trigger[];
  tools: PluginTool[];
  /** By the plugin's own server names; ${CLAUDE_PLUGIN_ROOT} is expanded. */
  mcpServers: Record<string, McpServerConfig>;
  /** One per hooks file (or inline section), in the order read; not yet marked trusted. */
  hooks: Omit<HookSource, 'trusted'>[];
  permissions: { allow: string[]; ask: string[]; deny: string[] };
  /** Parts that are valid but do nothing in Kairos, with why. */
  unused: { what: string; why: string }[];
}

/** Throws PolicyError. `dir` is the folder's realpath. */
export function readPluginFolder(dir: string, dataDir?: string): PluginContents {
  const kairosFile = path.join(dir, MANIFEST_FILE);
  const claudeFile = path.join(dir, CLAUDE_MANIFEST);
  const hasKairos = fs.existsSync(kairosFile);
  const hasClaude = fs.existsSync(claudeFile);
  const defaultHooks = path.join(dir, DEFAULT_HOOKS_FILE);
  if (!hasKairos && !hasClaude && !fs.existsSync(defaultHooks)) {
    throw new PolicyError(kairosFile, [
      {
        file: dir,
        field: '',
        message: `not a plugin folder — it needs a Claude Code ${CLAUDE_MANIFEST} (with at least {"name"}) or a Kairos ${MANIFEST_FILE} (with at least {"name", "version", "description"})`,
      },
    ]);
  }
  const expand = (s: string): string => s.replaceAll('${CLAUDE_PLUGIN_ROOT}', dir).replaceAll('${CLAUDE_PLUGIN_DATA}', dataDir ?? path.join(dir, '.data'));
  const problems: PolicyProblem[] = [];
  const out = emptyContents({
    name: path.basename(dir),
    version: '0.0.0',
    format: hasKairos ? (hasClaude ? 'kairos+claude' : 'kairos') : 'claude',
    manifestFile: hasKairos ? kairosFile : hasClaude ? claudeFile : defaultHooks,
  });

  let claudeName: string | undefined;
  if (hasClaude) claudeName = readClaudeManifest(dir, claudeFile, out, problems, expand);
  else if (!hasKairos) readHooksFile(dir, defaultHooks, out, problems);

  if (hasKairos) {
    const json = readJsonFile(kairosFile);
    const parsed = PluginManifest.safeParse(json.value);
    if (!parsed.success) {
      problems.push(...zodProblems(json, parsed.error, [], describeManifestIssue));
      // Its hooks are checked too, so one run of `policy check` lists every problem.
      const raw = isObject(json.value) ? json.value.hooks : undefined;
      if (raw !== undefined) checkHooks(dir, json, ['hooks'], raw, `${kairosFile}#hooks`, out, problems);
    } else {
      const m = parsed.data;
      if (claudeName !== undefined && claudeName !== m.name) {
        problems.push({ file: kairosFile, ...json.locate(['name']), field: 'name', message: `'${m.name}' differs from the name '${claudeName}' in ${CLAUDE_MANIFEST} — use the same name in both` });
      }
      out.name = m.name;
      out.version = m.version;
      out.description = m.description;
      out.triggers = m.triggers ?? [];
      out.tools = m.tools ?? [];
      out.permissions = { allow: [...(m.permissions?.allow ?? [])], ask: [...(m.permissions?.ask ?? [])], deny: [...(m.permissions?.deny ?? [])] };
      for (const [name, server] of Object.entries(m.mcp_servers ?? {})) out.mcpServers[name] = server;
      if (m.hooks !== undefined) checkHooks(dir, json, ['hooks'], m.hooks, `${kairosFile}#hooks`, out, problems);
    }
  }
  if (problems.length > 0) throw new PolicyError(out.manifestFile, sortProblems(problems));
  return out;
}

function readClaudeManifest(dir: string, file: string, out: PluginContents, problems: PolicyProblem[], expand: (s: string) => string): string | undefined {
  const json = readJsonFile(file);
  const parsed = ClaudePluginManifest.safeParse(json.value);
  if (!parsed.success) {
    problems.push(...zodProblems(json, parsed.error));
    return undefined;
  }
  const m = parsed.data;
  out.name = m.name;
  out.version = m.version ?? '0.0.0';
  out.description = m.description ?? '';

  // Hooks: hooks/hooks.json when it exists, plus what the manifest names (a file it names twice is read once).
  const hookFiles = new Set<string>();
  if (fs.existsSync(path.join(dir, DEFAULT_HOOKS_FILE))) hookFiles.add(path.join(dir, DEFAULT_HOOKS_FILE));
  if (typeof m.hooks === 'string' || Array.isArray(m.hooks)) {
    for (const [i, rel] of listOf(m.hooks).entries()) {
      const f = inside(dir, rel);
      if (!f || !fs.existsSync(f)) problems.push({ file, ...json.locate(Array.isArray(m.hooks) ? ['hooks', i] : ['hooks']), field: 'hooks', message: `'${rel}' ${f ? 'does not exist' : 'leaves the plugin folder'} — name a hooks file inside the plugin` });
      else hookFiles.add(f);
    }
  }
  for (const f of hookFiles) readHooksFile(dir, f, out, problems);
  if (m.hooks !== undefined && typeof m.hooks === 'object' && !Array.isArray(m.hooks)) {
    const section = hooksSectionOf(m.hooks);
    checkHooks(dir, json, ['hooks', ...section.base], section.hooks, `${file}#hooks`, out, problems);
  }

  // MCP servers: .mcp.json when it exists and the manifest names none, or what the manifest names.
  if (m.mcpServers === undefined) {
    const f = path.join(dir, DEFAULT_MCP_FILE);
    if (fs.existsSync(f)) readMcpFile(f, out, problems, expand);
  } else if (typeof m.mcpServers === 'string' || Array.isArray(m.mcpServers)) {
    for (const [i, rel] of listOf(m.mcpServers).entries()) {
      const f = inside(dir, rel);
      if (!f || !fs.existsSync(f)) problems.push({ file, ...json.locate(Array.isArray(m.mcpServers) ? ['mcpServers', i] : ['mcpServers']), field: 'mcpServers', message: `'${rel}' ${f ? 'does not exist' : 'leaves the plugin folder'} — name an .mcp.json file inside the plugin` });
      else readMcpFile(f, out, problems, expand);
    }
  } else {
    addMcpServers(json, ['mcpServers'], m.mcpServers, out, problems, expand);
  }

  for (const [key, why] of Object.entries(UNUSED_COMPONENTS)) if (m[key] !== undefined) out.unused.push({ what: key, why });
  for (const folder of UNUSED_FOLDERS) {
    if (m[folder] === undefined && fs.existsSync(path.join(dir, folder))) out.unused.push({ what: `${folder}/`, why: UNUSED_COMPONENTS[folder]! });
  }
  return m.name;
}

/** A hooks file: `{"hooks": {...}}` (Claude Code's documented form, with an optional "description") or the section itself. */
function readHooksFile(dir: string, file: string, out: PluginContents, problems: PolicyProblem[], settings = false): void {
  let json: LocatedJson;
  try {
    json = readJsonFile(file);
  } catch (e) {
    if (e instanceof PolicyError) return void problems.push(...e.problems);
    throw e;
  }
  if (!isObject(json.value)) {
    problems.push({ file, line: 1, col: 1, field: '', message: 'a hooks file is a JSON object: {"hooks": {"PreToolUse": [...]}} — fix the file' });
    return;
  }
  // A settings file (.claude/settings.json, $KAIROS_HOME/hooks.json) keeps its hooks under "hooks", next to other settings.
  const section = settings ? { hooks: json.value.hooks, base: ['hooks'] } : hooksSectionOf(json.value);
  if (settings && json.value.disableAllHooks === true) return;
  checkHooks(dir, json, section.base, section.hooks, file, out, problems);
}

function hooksSectionOf(value: Record<string, unknown>): { hooks: unknown; base: JsonPath } {
  if (isObject(value.hooks)) return { hooks: value.hooks, base: ['hooks'] };
  const { description: _description, ...events } = value;
  return { hooks: events, base: [] };
}

function checkHooks(dir: string, json: LocatedJson, base: JsonPath, hooks: unknown, label: string, out: PluginContents, problems: PolicyProblem[]): void {
  const compiled = compileHooksSection(hooks);
  for (const p of compiled.problems) problems.push({ file: json.file, ...json.locate([...base, ...p.path]), field: fieldOf(['hooks', ...p.path]), message: p.message });
  for (const s of compiled.skipped) out.unused.push({ what: `${path.relative(dir, json.file)}: ${fieldOf(['hooks', ...s.path])}`, why: s.why });
  if (compiled.problems.length === 0) out.hooks.push({ label, hooks, pluginRoot: dir });
}

function readMcpFile(file: string, out: PluginContents, problems: PolicyProblem[], expand: (s: string) => string): void {
  let json: LocatedJson;
  try {
    json = readJsonFile(file);
  } catch (e) {
    if (e instanceof PolicyError) return void problems.push(...e.problems);
    throw e;
  }
  const v = json.value;
  if (!isObject(v)) {
    problems.push({ file, line: 1, col: 1, field: '', message: 'an .mcp.json file is a JSON object: {"mcpServers": {"name": {"command": "..."}}} — fix the file' });
    return;
  }
  if (isObject(v.mcpServers)) addMcpServers(json, ['mcpServers'], v.mcpServers, out, problems, expand);
  else addMcpServers(json, [], v, out, problems, expand);
}

/** Claude Code's server entries as Kairos's (McpServerConfig), with ${CLAUDE_PLUGIN_ROOT} expanded. */
function addMcpServers(json: LocatedJson, base: JsonPath, servers: Record<string, unknown>, out: PluginContents, problems: PolicyProblem[], expand: (s: string) => string): void {
  for (const [name, raw] of Object.entries(servers)) {
    const at = [...base, name];
    const named = McpServerName.safeParse(name);
    if (!named.success) {
      problems.push({ file: json.file, ...json.locate(at), field: fieldOf(['mcpServers', name]), message: named.error.issues[0]!.message });
      continue;
    }
    const parsed = ClaudeMcpServer.safeParse(raw);
    if (!parsed.success) {
      problems.push(...zodProblems(json, parsed.error, at));
      continue;
    }
    const s = parsed.data;
    if (s.type === 'sse' || s.type === 'ws') {
      out.unused.push({ what: `mcpServers.${name}`, why: `Kairos speaks MCP over stdio and streamable HTTP, not '${s.type}'` });
      continue;
    }
    const candidate =
      s.command !== undefined
        ? { command: expand(s.command), ...(s.args ? { args: s.args.map(expand) } : {}), ...(s.env ? { env: Object.fromEntries(Object.entries(s.env).map(([k, v]) => [k, expand(v)])) } : {}) }
        : { url: expand(s.url ?? ''), ...(s.headers ? { headers: s.headers } : {}) };
    const server = McpServerConfig.safeParse(candidate);
    if (!server.success) {
      const issue = server.error.issues[0]!;
      const neither = s.command === undefined && s.url === undefined;
      const sub = neither ? [] : issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      const message = neither ? 'has neither "command" nor "url" — write {"command": "...", "args": [...]} or {"type": "http", "url": "https://..."}' : issue.message;
      problems.push({ file: json.file, ...json.locate([...at, ...sub]), field: fieldOf(['mcpServers', name, ...sub]), message });
      continue;
    }
    out.mcpServers[name] = server.data;
  }
}

function listOf(v: string | string[]): string[] {
  return typeof v === 'string' ? [v] : v;
}

/** `rel` inside `dir` (after resolving symlinks of what exists), or undefined when it leaves it. */
function inside(dir: string, rel: string): string | undefined {
  const f = path.resolve(dir, rel);
  let real = f;
  try {
    real = fs.realpathSync(f);
  } catch (e) {
    // Missing: checked by the caller. Anything else (a symlink loop, EACCES) is not "missing".
    if (!isAbsent(e)) throw e;
  }
  return real === dir || real.startsWith(dir + path.sep) ? f : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fieldOf(p: JsonPath): string {
  return p.map((s, i) => (typeof s === 'number' ? `[${s}]` : `${i === 0 ? '' : '.'}${s}`)).join('');
}

function sortProblems(problems: PolicyProblem[]): PolicyProblem[] {
  return [...problems].sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}


/**
 * Checks one JSON settings file on its own (`kairos policy check FILE`): a settings file with a
 * "hooks" section (Kairos's hooks.json, .claude/settings.json), a plugin's hooks/hooks.json (either
 * shape) or an .mcp.json. Throws
 * PolicyError; returns what the file configures.
 */
export function checkSettingsFile(file: string, kind: 'settings' | 'hooks' | 'mcp'): { hooks: number; servers: string[]; unused: PluginContents['unused'] } {
  const dir = path.dirname(file);
  const out = emptyContents({ name: '', version: '', format: 'claude', manifestFile: file });
  const problems: PolicyProblem[] = [];
  if (kind === 'mcp') readMcpFile(file, out, problems, (s) => s);
  else readHooksFile(dir, file, out, problems, kind === 'settings');
  if (problems.length > 0) throw new PolicyError(file, sortProblems(problems));
  const hooks = out.hooks.reduce((n, h) => n + compileHooksSection(h.hooks).hooks.length, 0);
  return { hooks, servers: Object.keys(out.mcpServers), unused: out.unused };
}

/** A plugin's contents before any file is read: what it is called and where its manifest is, nothing declared. */
function emptyContents(o: Pick<PluginContents, 'name' | 'version' | 'format' | 'manifestFile'>): PluginContents {
  return { ...o, description: '', triggers: [], tools: [], mcpServers: {}, hooks: [], permissions: { allow: [], ask: [], deny: [] }, unused: [] };
}
