import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import type { Db } from '../store/db.js';
import { minTokensFor, type ModelClient } from '../model/client.js';
import type { Origin } from '../model/ledger.js';
import type { Policy, SandboxSettings } from '../policy/schema.js';
import type { LogSink } from '../report/logger.js';
import { deny } from '../policy/decision.js';
import { evaluateStep } from '../policy/layers.js';
import { layerContext } from '../policy/layer-context.js';
import type { SandboxStatus } from '../policy/sandbox.js';
import { AuditLog, recordHookBlock } from '../policy/audit.js';
import { isPaused } from '../store/pause-switch.js';
import { trustStatus } from '../policy/trust.js';
import { trustLayer } from '../policy/trust-layer.js';
import { createHooks, loadHookSources, type HooksConfig } from './hooks.js';
import { createTaskWorktree, removeTaskWorktree, type TaskWorktree } from './worktree.js';
import { makeProposal, ProposalError, type Proposal } from './proposal.js';
import { ProposalStore } from '../store/proposal-store.js';
import { runAgent, DEFAULT_AGENT_LIMITS, type AgentLimits } from './loop.js';
import { connectMcpServers } from './mcp-client.js';
import { loadUserPlugins, pluginHookSources } from './plugins.js';
import { pluginToolbox } from './plugin-tools.js';
import { editFile, grep, listFiles, readFile, writeFile } from './tools/files.js';
import { gitRead } from './tools/git-read.js';
import { AGENT_COMMAND_TIMEOUT_MS, runAgentCommand } from './tools/command.js';
import type { ToolInput, ToolName } from './tools/schemas.js';
import { SplitRunner, type WorkerRecord } from './workers.js';
import { WORKERS_DEFAULTS } from '../policy/schema.js';

export interface AgentTaskInput {
  taskId: number;
  repo: string;
  trigger: string;
  instruction: string;
  context: string;
  policy: Policy;
  /** Who the task is for (a poke is attended): its model calls' retry policy. Default 'trigger'. */
  origin?: Origin | undefined;
}

export interface AgentTaskDeps {
  db: Db;
  home: string;
  model: ModelClient;
  sandbox: SandboxStatus;
  log: LogSink;
  notify(message: string): void;
  /** A hook's systemMessage, for the user (the daemon shows it and writes it to the daily log). */
  hookMessage?: HooksConfig['onSystemMessage'];
  limits?: Partial<AgentLimits>;
}

/** `workers`: what each worker of a split did (for the task's data); absent when the task did not split. */
export type AgentTaskResult = (
  | { state: 'proposed'; proposal: Proposal; reason: string; costMicro: number }
  | { state: 'done'; reason: string; costMicro: number }
  | { state: 'failed'; reason: string; costMicro: number }
) & { workers?: WorkerRecord[] };

const MAX_NOTIFICATIONS = 3;

/**
 * An acting task from start to end: a worktree of its own, the developer's hooks (snapshotted),
 * the policy layers bound to this repository, the loop, then a proposal bound to its diff hash.
 * The worktree is removed at the end whatever happened; the diff lives in the store.
 */
export async function runAgentTask(t: AgentTaskInput, d: AgentTaskDeps): Promise<AgentTaskResult> {
  if (!d.model.modelStepsEnabled) return { state: 'done', reason: d.model.disabledReason ?? 'model steps are off', costMicro: 0 };
  const actModel = t.policy.models?.act;
  if (!actModel) return { state: 'failed', reason: "no models.act in the policy: name the model that does the work", costMicro: 0 };
  // Checked again at every tool call (below): a trusted hook that rewrites its own files mid-session
  // changes the pinned digest, and the next call is denied.
  const trust = trustStatus(d.db, t.repo);
  if (trust === 'changed') {
    return { state: 'failed', reason: `model work is paused in ${t.repo}: its policy or hook files changed since you trusted it; run 'kairos trust ${t.repo}'`, costMicro: 0 };
  }
  const wt = await createTaskWorktree({ repo: t.repo, taskId: t.taskId, home: d.home, includeUncommitted: true });
  const spillDir = path.join(d.home, 'spill', String(t.taskId));
  fs.mkdirSync(spillDir, { recursive: true });
  try {
    // Plugins come only from trusted places ($KAIROS_HOME/plugins); their hooks join the session's.
    const plugins = loadUserPlugins(d.home, d.db);
    for (const e of plugins.errors) d.log.warn({ err: e.message }, 'plugin not loaded');
    const hookSources = loadHookSources({ kairosHome: d.home, repoDir: t.repo, repoTrusted: trust === 'trusted', extra: pluginHookSources(plugins.plugins) });
    const hookSettings = {
      pluginDataRoot: path.join(d.home, 'plugin-data'),
      ...(d.hookMessage ? { onSystemMessage: d.hookMessage } : {}),
      // A failing hook never stops the session: the log is where it shows.
      onWarning: (hook: string, about: { event: string }) => d.log.warn({ task: t.taskId, event: about.event, hook }, 'hook warning'),
    };
    const hooks = createHooks({
      sources: hookSources,
      projectDir: t.repo,
      workDir: wt.dir,
      sessionId: `kairos-task-${t.taskId}`,
      ...hookSettings,
    });
    const audit = new AuditLog(d.db);
    // Trust is read again at every call, and the pause switch too: the gate's real check for a step
    // of a running task. A tool call costs nothing, so the spend layer is n/a for it (never called).
    // Steps the trust layer denied because the repository is not trusted: the task's end says so, with the command.
    let deniedUntrusted = 0;
    const evaluate = (step: Parameters<typeof evaluateStep>[0]) =>
      evaluateStep(step, layerContext({ policy: t.policy, kairosHome: d.home, sandbox: d.sandbox, attended: false, gateState: { recentStarts: [], paused: isPaused(d.db) } }), {
        trust: (step) => {
          const status = trustStatus(d.db, t.repo);
          const verdict = trustLayer(status)(step);
          if (verdict.decision === 'deny' && status === 'untrusted') deniedUntrusted++;
          return verdict;
        },
        spend: () => deny('the spend layer decides model calls only (a tool call reached it)'),
        audit,
      });
    const recordBlocked = (step: Parameters<typeof evaluateStep>[0], hook: string, reason: string): void => recordHookBlock(audit, step, hook, reason);
    let notified = 0;
    const limits = { ...DEFAULT_AGENT_LIMITS, minTokens: minTokensFor('act', t.policy.budget), ...d.limits };
    const workers = new SplitRunner({
      taskId: t.taskId,
      repo: t.repo,
      home: d.home,
      coordinatorDir: wt.dir,
      ledger: d.model.ledger,
      maxWorkers: t.policy.workers?.max ?? WORKERS_DEFAULTS.max,
      log: d.log,
      // A worker: same policy layers and hooks, its own worktree and ledger key, no split, no notify, no MCP.
      runWorker: async (w) => {
        const workerSpill = path.join(d.home, 'spill', w.id);
        fs.mkdirSync(workerSpill, { recursive: true });
        // Claude Code's subagent events, for Kairos's workers: SubagentStart may add context; the
        // worker's own stop fires SubagentStop (src/agent/loop.ts).
        let workerContext = t.context;
        if (hooks.has('SubagentStart')) {
          const s = await hooks.fire('SubagentStart', { agent_id: w.id, agent_type: 'worker' });
          if (s.additionalContext) workerContext += `\n\nContext from the developer's hooks:\n${s.additionalContext}`;
        }
        return runAgent(
          { taskId: t.taskId, spendKey: w.id, repo: t.repo, trigger: t.trigger, origin: 'worker', instruction: `${w.instruction}\n\n(You are one worker of a larger task; do only this part.)`, context: workerContext, worktree: w.worktree.dir },
          {
            model: d.model,
            actModel,
            triageModel: t.policy.models?.triage,
            role: 'worker',
            tools: { evaluate, recordBlocked, execute: toolExecutor(w.worktree, t.repo, t.policy.sandbox, workerSpill, d, () => ({ text: 'workers cannot notify', failed: true }), undefined) },
            hooks: createHooks({ sources: hookSources, projectDir: t.repo, workDir: w.worktree.dir, sessionId: `kairos-task-${w.id}`, ...hookSettings }),
            spillDir: workerSpill,
            limits,
            log: d.log,
          },
        );
      },
    });
    const execute = toolExecutor(
      wt,
      t.repo,
      t.policy.sandbox,
      spillDir,
      d,
      async (message) => {
        if (++notified > MAX_NOTIFICATIONS) return { text: `not sent: at most ${MAX_NOTIFICATIONS} notifications per task`, failed: true };
        if (hooks.has('Notification')) await hooks.fire('Notification', { message, title: `Kairos: ${t.trigger}`, notification_type: 'agent' });
        d.notify(message);
        return { text: 'sent' };
      },
      async (tasks) => {
        const r = await workers.split(tasks);
        return { text: r.text, failed: r.failed };
      },
    );
    const mcp = await connectMcpServers(t.policy.mcp_servers ?? {}, { cwd: wt.dir, env: process.env, log: d.log });
    const pluginTools = pluginToolbox(plugins.plugins);
    let outcome: Awaited<ReturnType<typeof runAgent>>;
    try {
      outcome = await runAgent(
        { taskId: t.taskId, repo: t.repo, trigger: t.trigger, origin: t.origin, instruction: t.instruction, context: t.context, worktree: wt.dir },
        {
          model: d.model,
          actModel,
          triageModel: t.policy.models?.triage,
          tools: { evaluate, recordBlocked, execute, external: eitherToolbox(mcp, pluginTools) },
          externalSpecs: [...mcp.tools(), ...pluginTools.tools()],
          hooks,
          spillDir,
          limits,
          log: d.log,
        },
      );
    } finally {
      await mcp.close();
    }
    // The task's cost includes its workers' (their own ledger keys, counted in this task's total).
    const cost = outcome.costMicro + workers.records.reduce((a, w) => a + w.cost_micro, 0);
    const workerData = workers.records.length ? { workers: workers.records } : {};
    // Without a proposal, an untrusted repository is the likely cause: the end says so first, and tells the user once.
    const untrustedEnd = (state: 'done' | 'failed', reason: string): AgentTaskResult => {
      if (deniedUntrusted === 0) return { state, reason, costMicro: cost, ...workerData };
      const why = untrustedReason(t.repo, deniedUntrusted);
      d.notify(why);
      return { state, reason: `${why} (${reason.replace(/^nothing to propose: /, '')})`, costMicro: cost, ...workerData };
    };
    if (outcome.kind === 'failed') return untrustedEnd('failed', outcome.reason);
    if (outcome.kind === 'sleep') return untrustedEnd('done', `slept: ${outcome.reason}`);
    let proposal: Proposal;
    try {
      proposal = await makeProposal({ db: d.db, repo: t.repo, worktreeDir: wt.dir, base: wt.base, taskId: t.taskId, summary: outcome.summary, costMicros: cost });
    } catch (e) {
      // A refusal is a failure the user must see (`kairos tasks`, the log, a notification); an empty or oversized diff is not.
      if (e instanceof ProposalError && e.code === 'refused') {
        d.log.warn({ task: t.taskId, reason: e.message }, 'proposal refused');
        return { state: 'failed', reason: e.message, costMicro: cost, ...workerData };
      }
      if (e instanceof ProposalError && e.code === 'secret') return { state: 'failed', reason: `proposal refused: ${e.message}`, costMicro: cost, ...workerData };
      if (e instanceof ProposalError) return untrustedEnd('done', `nothing to propose: ${e.message}`);
      throw e;
    }
    if (hooks.has('TaskProposed')) {
      const h = await hooks.fire('TaskProposed', { task_id: String(t.taskId), trigger: t.trigger, proposal: { id: proposal.id, hash: proposal.hash, summary: proposal.summary, files: proposal.files } });
      if (h.decision === 'block') {
        new ProposalStore(d.db).discard(proposal.id);
        return { state: 'failed', reason: `proposal withheld by a TaskProposed hook: ${h.reason ?? ''}`, costMicro: cost, ...workerData };
      }
    }
    return { state: 'proposed', proposal, reason: outcome.summary, costMicro: cost, ...workerData };
  } finally {
    await removeTaskWorktree({ repo: t.repo, taskId: t.taskId, home: d.home }).catch((e: Error) => d.log.warn({ task: t.taskId, err: e.message }, 'worktree not removed'));
    fs.rmSync(spillDir, { recursive: true, force: true });
  }
}

/** The end of a task whose edits or commands the trust layer denied: what happened and the command that changes it. */
export function untrustedReason(repo: string, denied: number): string {
  return `nothing to propose: ${repo} is not trusted, so the agent could only read (${denied} edit${denied === 1 ? '' : 's'} or command${denied === 1 ? '' : 's'} denied); run 'kairos trust ${repo}' to let it edit its worktree and run commands, then run the trigger again`;
}

type ToolOutput = { text: string; failed?: boolean };

/** One handler per built-in tool, each given the input its zod schema parsed. propose and sleep end the loop there, so they have none. */
type ToolHandlers = { [N in ToolName]?: (input: ToolInput<N>) => Promise<ToolOutput> };

/** The single dispatch point: the handler of `name`, called with that tool's input type. */
function dispatchTool<N extends ToolName>(handlers: ToolHandlers, name: N, input: ToolInput<N>): Promise<ToolOutput> {
  const handler = handlers[name];
  return handler ? handler(input) : Promise.resolve({ text: `tool ${name} is handled by the loop`, failed: true });
}

/**
 * runToolCall hands over the input it validated with `ToolInputs[name]` (after a hook's update, validated
 * again; notify's message only redacted), typed as the record hooks see. This is the one place the
 * name–input pairing is asserted: a second parse could refuse a notify whose redaction made it longer.
 */
function validatedInput<N extends ToolName>(_name: N, input: Record<string, unknown>): ToolInput<N> {
  return input as ToolInput<N>;
}

/** The built-in tools bound to one worktree; notify and split are the caller's (a worker gets neither). */
function toolExecutor(
  wt: Pick<TaskWorktree, 'dir' | 'gitDir'>,
  repo: string,
  sandboxSettings: SandboxSettings | undefined,
  spillDir: string,
  d: Pick<AgentTaskDeps, 'home' | 'sandbox'>,
  notify: (message: string) => ToolOutput | Promise<ToolOutput>,
  split: ((tasks: ToolInput<'split'>['tasks']) => Promise<ToolOutput>) | undefined,
): (name: ToolName, input: Record<string, unknown>) => Promise<ToolOutput> {
  const root = wt.dir;
  // The worktree's git dir as the daemon made it (found from the repository's side, never from the tree's `.git`).
  const git = { gitDir: wt.gitDir, workTree: wt.dir };
  const files = { root, gitDir: wt.gitDir, readOnlyRoots: [spillDir], maxReadBytes: 256 * 1024 };
  const sandbox = { sandbox: d.sandbox, ...(sandboxSettings ? { settings: sandboxSettings } : {}), home: os.homedir(), kairosHome: d.home };
  const handlers: ToolHandlers = {
    read_file: async (input) => ({ text: await readFile(files, input) }),
    list_files: async (input) => ({ text: await listFiles(files, input) }),
    grep: async (input) => ({ text: await grep(files, input) }),
    write_file: async (input) => ({ text: await writeFile(files, input) }),
    edit_file: async (input) => ({ text: await editFile(files, input) }),
    git: async (input) => ({ text: await gitRead({ git, repo, ...sandbox, timeoutMs: 30_000 }, input) }),
    run_command: (input) => runAgentCommand({ root, repo, ...sandbox, timeoutMs: AGENT_COMMAND_TIMEOUT_MS, outputLimit: 64_000 }, input),
    notify: async (input) => notify(input.message),
    split: (input) => (split ? split(input.tasks) : Promise.resolve({ text: 'split is not available here', failed: true })),
  };
  return (name, input) => dispatchTool(handlers, name, validatedInput(name, input));
}

type Toolbox = { has(name: string): boolean; call(name: string, input: Record<string, unknown>): Promise<{ ok: boolean; output: string }> };

/** MCP tools and plugin command tools behind one lookup (their names cannot clash: mcp__ vs plugin__). */
function eitherToolbox(a: Toolbox, b: Toolbox): Toolbox {
  return {
    has: (n) => a.has(n) || b.has(n),
    call: (n, input) => (a.has(n) ? a.call(n, input) : b.call(n, input)),
  };
}
