import { runSandboxed, type SandboxStatus } from '../../policy/sandbox.js';
import type { ToolInput } from './schemas.js';
import { ToolError } from './tool-error.js';

export interface CommandScope {
  root: string;
  home: string;
  kairosHome: string;
  sandbox: SandboxStatus;
  timeoutMs: number;
  outputLimit: number;
  maxProcesses: number;
}

/**
 * Runs a command the agent chose, always inside the sandbox: no network, only the worktree writable.
 * The sandbox layer has already turned "no sandbox here" into an ask, so reaching this without one is a bug.
 */
export async function runAgentCommand(scope: CommandScope, input: ToolInput<'run_command'>): Promise<{ text: string; failed: boolean }> {
  if (!scope.sandbox.available) throw new ToolError('no sandbox is available on this machine; commands need a human to approve them');
  const r = await runSandboxed(input.command, {
    worktree: scope.root,
    home: scope.home,
    kairosHome: scope.kairosHome,
    timeoutMs: scope.timeoutMs,
    outputLimit: scope.outputLimit,
    maxProcesses: scope.maxProcesses,
    status: scope.sandbox,
  });
  if (r.spawnError) throw new ToolError(`could not start: ${r.spawnError}`);
  const limit = r.limit === 'time' ? ` (stopped: time limit ${scope.timeoutMs} ms)` : r.limit === 'processes' ? ' (stopped: too many processes)' : '';
  const status = r.exitCode !== null ? `exit code ${r.exitCode}` : `killed by ${r.signal}`;
  return { text: `$ ${input.command}\n${r.output}\n[${status}${limit}, ${r.durationMs} ms]`, failed: r.exitCode !== 0 };
}
