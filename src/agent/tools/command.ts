import { runSandboxed, type SandboxResult, type SandboxStatus } from '../../policy/sandbox.js';
import type { SandboxSettings } from '../../policy/schema.js';
import type { ToolInput } from './schemas.js';
import { ToolError } from './tool-error.js';

/** Wall-clock limit of one agent command; CPU time defaults to the same (policy sandbox.limits.cpu lowers it). */
export const AGENT_COMMAND_TIMEOUT_MS = 5 * 60_000;

export interface CommandScope {
  /** The task's worktree: the command's working directory and only writable host folder. */
  root: string;
  /** The repository the worktree belongs to (its node_modules and git data are shown read-only). */
  repo?: string;
  home: string;
  kairosHome: string;
  sandbox: SandboxStatus;
  /** The policy's `sandbox:` key: extra paths and variables, and the limits. */
  settings?: SandboxSettings;
  timeoutMs: number;
  outputLimit: number;
  /** Overrides the policy's process limit. */
  maxProcesses?: number;
}

function stopped(r: SandboxResult, scope: CommandScope): string {
  switch (r.limit) {
    case 'time':
      return ` (stopped: time limit ${scope.timeoutMs} ms)`;
    case 'processes':
      return ' (stopped: it reached its process limit; a command may run at most sandbox.limits.processes processes at once)';
    case 'memory':
      return ' (a process was killed: it reached the memory limit, sandbox.limits.memory)';
    case 'cpu':
      return ' (stopped: CPU time limit, sandbox.limits.cpu)';
    default:
      return '';
  }
}

/**
 * Runs a command the agent chose, always inside the sandbox: no network, a default-deny file
 * system with only the worktree writable, and limits on processes, memory and CPU time.
 * The sandbox layer has already turned "no sandbox here" into an ask, so reaching this without one is a bug.
 */
export async function runAgentCommand(scope: CommandScope, input: ToolInput<'run_command'>): Promise<{ text: string; failed: boolean }> {
  if (!scope.sandbox.available) throw new ToolError('no sandbox is available on this machine; commands need a human to approve them');
  const r = await runSandboxed(input.command, {
    worktree: scope.root,
    ...(scope.repo ? { repo: scope.repo } : {}),
    home: scope.home,
    kairosHome: scope.kairosHome,
    timeoutMs: scope.timeoutMs,
    outputLimit: scope.outputLimit,
    ...(scope.settings ? { settings: scope.settings } : {}),
    ...(scope.maxProcesses !== undefined ? { maxProcesses: scope.maxProcesses } : {}),
    status: scope.sandbox,
  });
  if (r.spawnError) throw new ToolError(`could not start: ${r.spawnError}`);
  const status = r.exitCode !== null ? `exit code ${r.exitCode}` : `killed by ${r.signal}`;
  return { text: `$ ${input.command}\n${r.output}\n[${status}${stopped(r, scope)}, ${r.durationMs} ms]`, failed: r.exitCode !== 0 };
}
