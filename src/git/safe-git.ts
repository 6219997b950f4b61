import { spawn, spawnSync } from 'node:child_process';
import { driverOverrides, driverOverridesAsync } from './driver-config.js';
import { safeGitArgv, safeGitEnv } from './git-env.js';
import { KairosError } from '../core/errors.js';

/**
 * The only way the daemon runs git. Every git command it runs in a worktree the agent or a command
 * has touched is an execution surface: repository discovery through a planted `.git` file or folder,
 * a planted config's filters, fsmonitor, hooks, pager, ssh command, includes, `.gitattributes`
 * selecting a driver. So every invocation here:
 *
 * - names its git dir (and work tree) explicitly: `--git-dir` / `--work-tree`, never discovery, so a
 *   planted `.git` anywhere in the tree is never read as a repository;
 * - runs with an environment allow-list (no GIT_* from the daemon's own environment, no system or
 *   global config, no attribute file of the system, no prompt, no optional locks, no pager/editor/askpass);
 * - forces the settings that run programs off on the command line (command-line config wins over
 *   every config file): hooks, fsmonitor, ssh, pager, editor, askpass, credential helpers, external
 *   diff, signing programs, auto-gc, protocols;
 * - neutralises every filter and merge driver the repository's config defines (driver-config.ts),
 *   so a `.gitattributes` written in the worktree can select a driver but the driver does nothing.
 *   Diff drivers are switched off by the callers' `--no-ext-diff --no-textconv`.
 *
 * Built-in conversions (end of line, ident, working-tree-encoding) stay on: they are data
 * transformations, not code, and keep the worktree consistent with what `git worktree add` checks out.
 */

export class GitCommandError extends KairosError {
  override name = 'GitCommandError';
  constructor(
    message: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface GitResult {
  stdout: Buffer;
  stderr: string;
  code: number | null;
}

/** Where a command runs: always named, never discovered. */
export interface GitLocation {
  /** The git directory (a repository's `.git`, or a linked worktree's admin folder under `.git/worktrees/`). */
  gitDir: string;
  /** The work tree; also the working directory, so relative paths are the tree's. */
  workTree?: string;
}

export interface GitRunOptions {
  /** Bytes written to git's stdin. */
  input?: Buffer | string;
  /** Extra environment: only the names in EXTRA_ENV (a scratch index, the scratch commits' identity). */
  env?: Record<string, string>;
  /** Return a failed result instead of throwing. */
  allowFail?: boolean;
  /** Kill git after this long (default 10 minutes; 60 s for gitSync): a planted tree can make git wait forever (a FIFO where it expects a file). */
  timeoutMs?: number;
}

function describe(loc: GitLocation, args: readonly string[]): string {
  return `git ${args.join(' ')} (in ${loc.workTree ?? loc.gitDir})`;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_SYNC_TIMEOUT_MS = 60_000;

function timeoutError(loc: GitLocation, args: readonly string[], ms: number): GitCommandError {
  return new GitCommandError(`${describe(loc, args)} was stopped after ${ms} ms (something in the tree made git wait: a FIFO where git expects a file?)`, null, '');
}

function failure(loc: GitLocation, args: readonly string[], res: GitResult): GitCommandError {
  return new GitCommandError(`${describe(loc, args)} failed (exit ${res.code ?? 'signal'}): ${res.stderr.trim() || '(no message)'}`, res.code, res.stderr);
}

/** Runs git and collects raw stdout bytes (diffs are hashed byte for byte, so no decoding). */
export async function git(loc: GitLocation, args: readonly string[], opts: GitRunOptions = {}): Promise<GitResult> {
  const env = safeGitEnv(await driverOverridesAsync(loc.gitDir), opts.env);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn('git', safeGitArgv(loc, args), { cwd: loc.workTree ?? loc.gitDir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new GitCommandError(`${describe(loc, args)}: ${e.message}; is git installed and on PATH?`, null, ''));
    });
    // git may exit before reading all its stdin (e.g. on a usage error); that is its answer, not ours to crash on.
    child.stdin.on('error', () => {});
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut) return reject(timeoutError(loc, args, timeoutMs));
      const res: GitResult = { stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), code };
      if (code === 0 || opts.allowFail) resolve(res);
      else reject(failure(loc, args, res));
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** The text of a successful command's stdout. */
export async function gitText(loc: GitLocation, args: readonly string[], opts: GitRunOptions = {}): Promise<string> {
  return (await git(loc, args, opts)).stdout.toString('utf8');
}

/** The same, synchronously, for the few callers that cannot wait (file tools, event enrichment). */
export function gitSync(loc: GitLocation, args: readonly string[], opts: GitRunOptions & { maxBuffer?: number } = {}): GitResult {
  const env = safeGitEnv(driverOverrides(loc.gitDir), opts.env);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS;
  const r = spawnSync('git', safeGitArgv(loc, args), {
    cwd: loc.workTree ?? loc.gitDir,
    env,
    input: opts.input,
    maxBuffer: opts.maxBuffer ?? 256 * 1024 * 1024,
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
  });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') throw timeoutError(loc, args, timeoutMs);
  if (r.error && r.status === null) {
    const res: GitResult = { stdout: Buffer.alloc(0), stderr: r.error.message, code: null };
    if (opts.allowFail) return res;
    throw new GitCommandError(`${describe(loc, args)}: ${r.error.message}`, null, '');
  }
  const res: GitResult = { stdout: r.stdout ?? Buffer.alloc(0), stderr: (r.stderr ?? Buffer.alloc(0)).toString('utf8'), code: r.status };
  if (res.code !== 0 && !opts.allowFail) throw failure(loc, args, res);
  return res;
}
