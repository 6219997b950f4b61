import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { loadPolicyFile, PolicyError, shippedPolicyPath, userPolicyPath } from '../policy/load.js';
import { trustRepo, trustStatus, untrustRepo } from '../policy/trust.js';
import type { Policy } from '../policy/schema.js';
import { openDb, storePath } from '../store/db.js';
import { reloadDaemonIfRunning } from './control-client.js';
import { resolveRepo, UsageError } from './context.js';
import { loadUserPolicy, resolveRepoPolicy } from '../policy/effective.js';
import { explainCall, formatExplanation } from '../policy/explain.js';
import { parseToolCall, RuleSyntaxError } from '../policy/rules.js';
import { layerContext } from '../policy/layer-context.js';
import { detectSandbox } from '../policy/sandbox.js';
import { explainSandbox, formatSandboxExplanation } from '../policy/sandbox/explain.js';
import { AGENT_COMMAND_TIMEOUT_MS } from '../agent/tools/command.js';
import { repoKey } from '../agent/worktree.js';
import { trustLayer } from '../policy/trust-layer.js';
import { allow } from '../policy/decision.js';
import { printJson } from './output.js';
import { withPlugins } from '../agent/plugin-policy.js';
import { ClaudeSettingsError, importClaudeSettingsFile, type ImportedPermissions } from '../policy/claude-settings.js';
import { readJsonFile } from '../policy/json-file.js';
import { compileHooksSection } from '../agent/hooks/registry.js';
import { stringify as toYaml } from 'yaml';
import { checkAllSettings, checkSettingsPath } from './settings-check.js';
import { isAbsent, messageOf } from '../core/errors.js';
import { ensureBashGrammar } from '../policy/shell-grammar.js';

function describe(p: Policy): string {
  const runs = p.triggers.filter((t) => t.run || t.ask).length;
  return `${p.triggers.length} trigger${p.triggers.length === 1 ? '' : 's'} (${runs} that run commands or ask the model)`;
}

/**
 * `kairos policy check [FILE]`: 0 when every checked file is valid, 1 otherwise; errors name file,
 * line, field and fix. Without FILE: the user policy, the current repository's policy, and every
 * JSON file the daemon reads (hook settings, plugin folders; src/cli/settings-check.ts). FILE may be
 * a policy (.yaml), a hooks or settings .json, an .mcp.json, a plugin manifest or a plugin folder.
 */
export function checkPolicy(home: string, file: string | undefined): number {
  const out = {
    ok: (line: string) => void process.stdout.write(`ok: ${line}\n`),
    fail: (message: string) => void process.stderr.write(`${message}\n`),
  };
  if (file && (file.endsWith('.json') || isDirectory(file))) return checkSettingsPath(file, home, out);
  const files: string[] = [];
  let repo: string | undefined;
  if (file) files.push(path.resolve(file));
  else {
    const user = userPolicyPath(home);
    if (fs.existsSync(user)) files.push(user);
    else process.stdout.write(`no user policy at ${user}; the shipped default applies (${shippedPolicyPath('default')})\n`);
    try {
      repo = resolveRepo(process.cwd());
      const repoFile = path.join(repo, '.kairos', 'policy.yaml');
      if (fs.existsSync(repoFile)) files.push(repoFile);
    } catch {
      // not inside a repository: only the user's files are checked
    }
  }
  let failed = 0;
  for (const f of files) {
    try {
      out.ok(`${f}: ${describe(loadPolicyFile(f))}`);
    } catch (e) {
      failed++;
      out.fail(e instanceof PolicyError ? e.message : `${f}: ${messageOf(e)}`);
    }
  }
  if (!file) failed += checkAllSettings(home, repo, out);
  return failed ? 1 : 0;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch (e) {
    // Not there: not a folder (reading it as a file then says "no such file"). Anything else is said as it is.
    if (isAbsent(e)) return false;
    throw e;
  }
}

/** `kairos trust DIR`: pins the repository's policy and hook files by hash, then asks a running daemon to reload. */
export async function trustCommand(home: string, repo: string, revoke: boolean): Promise<number> {
  const db = openDb(storePath(home));
  try {
    if (revoke) {
      untrustRepo(db, repo);
      process.stdout.write(`kairos: ${repo} is no longer trusted; its own policy may only tighten yours\n`);
    } else {
      const repoFile = path.join(repo, '.kairos', 'policy.yaml');
      if (fs.existsSync(repoFile)) {
        const p = loadPolicyFile(repoFile, { within: repo }); // refuse to trust a file that does not even parse
        const commands = p.triggers.filter((t) => t.run).map((t) => `  ${t.name}: ${t.run}`);
        if (commands.length) process.stdout.write(`Trusting ${repoFile} lets it run:\n${commands.join('\n')}\n`);
      }
      const pinned = trustRepo(db, repo, new Date());
      process.stdout.write(`kairos: trusted ${repo} (${trustStatus(db, repo)}); pinned by sha256 ${pinned.digest.slice(0, 12)}:\n`);
      for (const f of pinned.files) process.stdout.write(`  ${f}\n`);
      process.stdout.write(`a change to any of these (say, from a git pull) needs 'kairos trust' again\n`);
    }
  } finally {
    db.close();
  }
  await reloadDaemonIfRunning(home);
  return 0;
}

/**
 * `kairos policy explain "<Tool(arg)>"`: a dry run of the eight layers for one call an agent might
 * make in this repository, under its effective policy and trust; nothing is run or audited.
 */
export async function explainCommand(home: string, callText: string, repo: string, json: boolean): Promise<number> {
  try {
    parseToolCall(callText); // a malformed call is a usage error, not a crash
  } catch (e) {
    if (e instanceof RuleSyntaxError) throw new UsageError(`policy explain: ${e.message}`, { cause: e });
    throw e;
  }
  await ensureBashGrammar(); // the layers read commands with it, synchronously
  const db = openDb(storePath(home));
  try {
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const effective = resolveRepoPolicy(db, withPlugins(loadUserPolicy(home), home, quiet, db), repo);
    const ctx = layerContext({ policy: effective.policy, kairosHome: home, sandbox: detectSandbox(), attended: false });
    const e = explainCall(callText, ctx, { trust: trustLayer(effective.trust), spend: () => allow() }, { repo });
    if (json) printJson(e);
    else process.stdout.write(`${formatExplanation(e)}\n  repository: ${repo} (${effective.trust})\n`);
    return 0;
  } finally {
    db.close();
  }
}

/**
 * `kairos policy explain --sandbox`: the mount table, environment allow-list and limits a command
 * the agent runs in this repository gets, under its effective policy. Nothing is run.
 */
export function explainSandboxCommand(home: string, repo: string, json: boolean): number {
  const db = openDb(storePath(home));
  try {
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const effective = resolveRepoPolicy(db, withPlugins(loadUserPolicy(home), home, quiet, db), repo);
    const e = explainSandbox({
      repo,
      worktree: path.join(home, 'worktrees', repoKey(repo), '<task-id>'),
      home: os.homedir(),
      ...(effective.policy.sandbox ? { settings: effective.policy.sandbox } : {}),
      status: detectSandbox(),
      timeoutMs: AGENT_COMMAND_TIMEOUT_MS,
    });
    if (json) printJson(e);
    else process.stdout.write(`${formatSandboxExplanation(e, repo)}\n`);
    return 0;
  } finally {
    db.close();
  }
}

/**
 * `kairos policy import-claude [FILE]`: the `permissions` of a Claude Code settings file as a
 * policy `permissions:` block to paste into $KAIROS_HOME/policy.yaml. Nothing is written: the user
 * reads what they are about to allow. Rules Kairos cannot honour are listed with why.
 */
export function importClaudeCommand(file: string): number {
  if (!fs.existsSync(file)) {
    process.stderr.write(`kairos: ${file}: no such file — name a Claude Code settings file, e.g. .claude/settings.json\n`);
    return 1;
  }
  let r: ImportedPermissions;
  try {
    r = importClaudeSettingsFile(file);
  } catch (e) {
    if (!(e instanceof ClaudeSettingsError)) throw e;
    process.stderr.write(`kairos: ${e.message}\n`);
    return 1;
  }
  const lists = Object.fromEntries(Object.entries(r.permissions).filter(([, v]) => v.length));
  process.stdout.write(`# from ${file}; paste into $KAIROS_HOME/policy.yaml (deny wins over ask, ask over allow)\n`);
  process.stdout.write(toYaml({ permissions: lists }));
  for (const m of r.mapped) process.stdout.write(`# ${m.list}: ${m.rule} is kept as ${m.to} — ${m.note}\n`);
  for (const s of r.skipped) process.stdout.write(`# skipped ${s.list}: ${s.rule} — ${s.why}\n`);
  for (const n of r.notes) process.stdout.write(`# not imported: ${n.setting}: ${n.value} — ${n.instead}\n`);
  const hooks = hookCount(file);
  if (hooks > 0) {
    process.stdout.write(
      `# hooks: the ${hooks} hook${hooks === 1 ? '' : 's'} in this file run${hooks === 1 ? 's' : ''} unchanged in a repository you trust (kairos trust); to run them everywhere, copy its "hooks" section into $KAIROS_HOME/hooks.json\n`,
    );
  }
  return 0;
}

/** How many command hooks a settings file configures (it parsed already: errors here are not the import's). */
function hookCount(file: string): number {
  try {
    const value = readJsonFile(file).value;
    return compileHooksSection(value && typeof value === 'object' && 'hooks' in value ? value.hooks : undefined).hooks.length;
  } catch {
    // A count for the summary line only; the import above already reported any problem with the file.
    return 0;
  }
}
