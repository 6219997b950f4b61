import fs from 'node:fs';
import path from 'node:path';
import { parse, quote } from 'shell-quote';
import { runSandboxed, type SandboxStatus } from '../../policy/sandbox.js';
import { driverOverridesAsync } from '../../git/driver-config.js';
import { safeGitArgv, safeGitEnv } from '../../git/git-env.js';
import { git, type GitLocation } from '../../git/safe-git.js';
import type { ToolInput } from './schemas.js';
import { ToolError } from './tool-error.js';
import { checkGitToolArgs } from './git-args.js';

export interface GitToolScope {
  /** The task worktree and its admin folder: git never discovers the repository from the tree. */
  git: GitLocation & { workTree: string };
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
 * sandbox as the agent's commands (no network, the repository's git folder read-only) with the
 * daemon's hardened git environment (no repository-chosen program can run). Where no sandbox
 * exists it runs through the daemon's hardened git alone, which the allow-list keeps to reading.
 */
export async function gitRead(scope: GitToolScope, input: ToolInput<'git'>): Promise<string> {
  const tokens = typeof input.args === 'string' ? parse(input.args) : input.args;
  if (tokens.some((t) => typeof t !== 'string')) throw new ToolError('git: shell operators, globs and variables are not allowed; pass plain arguments');
  const args = checkGitToolArgs(scope.git.workTree, tokens as string[]);
  const sub = args[0]!;
  const limit = scope.outputLimit ?? DEFAULT_OUTPUT_LIMIT;

  if (!scope.sandbox.available) {
    const r = await git(scope.git, args, { allowFail: true, timeoutMs: scope.timeoutMs });
    const out = bounded(r.stdout.toString('utf8'), limit);
    if (r.code !== 0) throw new ToolError(`git ${sub} failed: ${r.stderr.trim() || out.trim() || `exit ${r.code ?? 'signal'}`}`);
    return out || '(no output)';
  }
  const command = quote(['git', ...safeGitArgv(scope.git, args)]);
  const r = await runSandboxed(command, {
    worktree: scope.git.workTree,
    home: scope.home,
    kairosHome: scope.kairosHome,
    readOnly: gitFolders(scope.git.gitDir),
    timeoutMs: scope.timeoutMs,
    outputLimit: limit,
    maxProcesses: 32,
    env: safeGitEnv(await driverOverridesAsync(scope.git.gitDir)),
    status: scope.sandbox,
  });
  if (r.spawnError) throw new ToolError(`git ${sub} could not start: ${r.spawnError}`);
  if (r.limit === 'time') throw new ToolError(`git ${sub} was stopped after ${scope.timeoutMs} ms`);
  if (r.exitCode !== 0) throw new ToolError(`git ${sub} failed: ${r.output.trim() || `exit ${r.exitCode ?? r.signal}`}`);
  return r.output || '(no output)';
}

/** The worktree's admin folder and the repository's shared git folder (objects, refs, config). */
function gitFolders(gitDir: string): string[] {
  const out = [gitDir];
  try {
    const common = fs.readFileSync(path.join(gitDir, 'commondir'), 'utf8').trim();
    if (common) out.unshift(path.resolve(gitDir, common));
  } catch {
    // a plain repository: gitDir is all there is
  }
  return out;
}

function bounded(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const half = Math.floor(limit / 2);
  return `${text.slice(0, half)}\n[… ${text.length - 2 * half} characters omitted …]\n${text.slice(-half)}`;
}
