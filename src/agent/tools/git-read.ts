import { parse } from 'shell-quote';
import { runSandboxedArgv, type SandboxStatus } from '../../policy/sandbox.js';
import type { SandboxSettings } from '../../policy/schema.js';
import { driverOverridesAsync } from '../../git/driver-config.js';
import { safeGitArgv, safeGitEnv } from '../../git/git-env.js';
import { git, type GitLocation } from '../../git/safe-git.js';
import type { ToolInput } from './schemas.js';
import { ToolError } from './tool-error.js';
import { checkGitToolArgs } from './git-args.js';

export interface GitToolScope {
  /** The task worktree and its admin folder: git never discovers the repository from the tree. */
  git: GitLocation & { workTree: string };
  /** The user's repository: the sandbox shows its git data read-only (config reduced to the format settings). */
  repo: string;
  /** The policy's `sandbox:` settings. */
  settings?: SandboxSettings;
  sandbox: SandboxStatus;
  /** The user's home (its credential folders stay hidden in the sandbox). */
  home: string;
  kairosHome: string;
  timeoutMs: number;
  /** Characters of output kept (default 100,000): half from the start, half from the end. */
  outputLimit?: number;
}

const DEFAULT_OUTPUT_LIMIT = 100_000;

/**
 * git status/diff/log/show/blame in the worktree, nothing else: the agent reads history, it never
 * rewrites it. The arguments pass the allow-list (git-args.ts); the command runs in the same
 * sandbox as the agent's commands (no network, the repository's git data read-only with its config
 * reduced to the format settings) with the
 * daemon's hardened git environment (no repository-chosen program can run). Where no sandbox
 * exists it runs through the daemon's hardened git alone, which the allow-list keeps to reading.
 */
export async function gitRead(scope: GitToolScope, input: ToolInput<'git'>): Promise<string> {
  const tokens = typeof input.args === 'string' ? parse(input.args) : input.args;
  const words = tokens.filter((t): t is string => typeof t === 'string');
  if (words.length !== tokens.length) throw new ToolError('git: shell operators, globs and variables are not allowed; pass plain arguments');
  const args = checkGitToolArgs(scope.git.workTree, words);
  const sub = args[0]!;
  const limit = scope.outputLimit ?? DEFAULT_OUTPUT_LIMIT;

  if (!scope.sandbox.available) {
    const r = await git(scope.git, args, { allowFail: true, timeoutMs: scope.timeoutMs });
    const out = bounded(r.stdout.toString('utf8'), limit);
    if (r.code !== 0) throw new ToolError(`git ${sub} failed: ${r.stderr.trim() || out.trim() || `exit ${r.code ?? 'signal'}`}`);
    return out || '(no output)';
  }
  // The sandbox passes only allow-listed variables, so the hardened git environment goes on the command line, through env(1).
  const gitVars = Object.entries(safeGitEnv(await driverOverridesAsync(scope.git.gitDir)))
    .filter(([k]) => k.startsWith('GIT_') || k === 'LC_ALL' || k === 'PAGER' || k === 'SSH_ASKPASS')
    .map(([k, v]) => `${k}=${v ?? ''}`);
  const r = await runSandboxedArgv(['env', ...gitVars, 'git', ...safeGitArgv(scope.git, args)], {
    worktree: scope.git.workTree,
    home: scope.home,
    kairosHome: scope.kairosHome,
    repo: scope.repo,
    ...(scope.settings ? { settings: scope.settings } : {}),
    timeoutMs: scope.timeoutMs,
    outputLimit: limit,
    status: scope.sandbox,
  });
  if (r.spawnError) throw new ToolError(`git ${sub} could not start: ${r.spawnError}`);
  if (r.limit === 'time') throw new ToolError(`git ${sub} was stopped after ${scope.timeoutMs} ms`);
  if (r.exitCode !== 0) throw new ToolError(`git ${sub} failed: ${r.output.trim() || `exit ${r.exitCode ?? r.signal}`}`);
  return r.output || '(no output)';
}

function bounded(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const half = Math.floor(limit / 2);
  return `${text.slice(0, half)}\n[… ${text.length - 2 * half} characters omitted …]\n${text.slice(-half)}`;
}
