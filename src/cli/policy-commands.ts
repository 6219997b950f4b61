import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { loadPolicyFile, PolicyError, shippedPolicyPath, userPolicyPath } from '../policy/load.js';
import { trustRepo, trustStatus, untrustRepo } from '../policy/trust.js';
import type { Policy } from '../policy/schema.js';
import { openDb, storePath } from '../store/db.js';
import { callDaemon, DaemonNotRunningError } from './control-client.js';
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
import { importClaudeSettingsFile } from '../policy/claude-settings.js';
import { stringify as toYaml } from 'yaml';

function describe(p: Policy): string {
  const runs = p.triggers.filter((t) => t.run || t.ask).length;
  return `${p.triggers.length} trigger${p.triggers.length === 1 ? '' : 's'} (${runs} that run commands or ask the model)`;
}

/** `kairos policy check [FILE]`: 0 when every checked file is valid, 1 otherwise; errors name file, line, field and fix. */
export function checkPolicy(home: string, file: string | undefined): number {
  const files: string[] = [];
  if (file) files.push(path.resolve(file));
  else {
    const user = userPolicyPath(home);
    if (fs.existsSync(user)) files.push(user);
    else process.stdout.write(`no user policy at ${user}; the shipped default applies (${shippedPolicyPath('default')})\n`);
    try {
      const repoFile = path.join(resolveRepo(process.cwd()), '.kairos', 'policy.yaml');
      if (fs.existsSync(repoFile)) files.push(repoFile);
    } catch {
      // not inside a repository: only the user policy is checked
    }
  }
  let failed = 0;
  for (const f of files) {
    try {
      process.stdout.write(`ok: ${f}: ${describe(loadPolicyFile(f))}\n`);
    } catch (e) {
      failed++;
      process.stderr.write(`${e instanceof PolicyError ? e.message : `${f}: ${(e as Error).message}`}\n`);
    }
  }
  return failed ? 1 : 0;
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
  try {
    await callDaemon(home, 'reload');
  } catch (e) {
    if (!(e instanceof DaemonNotRunningError)) throw e;
  }
  return 0;
}

/**
 * `kairos policy explain "<Tool(arg)>"`: a dry run of the eight layers for one call an agent might
 * make in this repository, under its effective policy and trust; nothing is run or audited.
 */
export function explainCommand(home: string, callText: string, repo: string, json: boolean): number {
  try {
    parseToolCall(callText); // a malformed call is a usage error, not a crash
  } catch (e) {
    if (e instanceof RuleSyntaxError) throw new UsageError(`policy explain: ${e.message}`);
    throw e;
  }
  const db = openDb(storePath(home));
  try {
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const effective = resolveRepoPolicy(db, withPlugins(loadUserPolicy(home), home, quiet), repo);
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
    const effective = resolveRepoPolicy(db, withPlugins(loadUserPolicy(home), home, quiet), repo);
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
  const r = importClaudeSettingsFile(file);
  const lists = Object.fromEntries(Object.entries(r.permissions).filter(([, v]) => v.length));
  process.stdout.write(`# from ${file}; paste into $KAIROS_HOME/policy.yaml (deny wins over ask, ask over allow)\n`);
  process.stdout.write(toYaml({ permissions: lists }));
  for (const s of r.skipped) process.stdout.write(`# skipped ${s.list}: ${s.rule} — ${s.why}\n`);
  return 0;
}
