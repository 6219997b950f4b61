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
import { ensureBashGrammar } from '../policy/shell-grammar.js';
import { layerContext } from '../policy/layer-context.js';
import type { SandboxStatus } from '../policy/sandbox.js';
import { AuditLog, recordHookBlock } from '../policy/audit.js';
import { isPaused } from '../store/pause-switch.js';
import { trustStatus } from '../policy/trust.js';
import { trustLayer } from '../policy/trust-layer.js';
import { createHooks, loadHookSources, type HooksConfig } from './hooks.js';
import { removeTaskWorktree, type TaskWorktree } from './worktree.js';
import { TaskWorkspace } from './task-workspace.js';
import { grepBase, listBaseFiles, readBaseFile, type BaseScope } from './tools/base-files.js';
import { makeProposal, ProposalError, type Proposal } from './proposal.js';
import { ProposalStore } from '../store/proposal-store.js';
import { runAgent, DEFAULT_AGENT_LIMITS, type AgentLimits } from './loop.js';
import { connectMcpServers } from './mcp-client.js';
import { loadUserPlugins, pluginHookSources } from './plugins.js';
import { pluginToolbox } from './plugin-tools.js';
import { editFile, grep, listFiles, readFile, writeFile } from './tools/files.js';
import { gitRead } from './tools/git-read.js';
import { AGENT_COMMAND_TIMEOUT_MS, runAgentCommand } from './tools/command.js';
import { ToolInputs, type ToolInput, type ToolName } from './tools/schemas.js';
import { z } from 'zod';
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
  /**
   * 'lazy' (default): the model starts on the task's base at once and the worktree is made when the
   * agent first edits or runs something (task-workspace.ts). 'eager': made before the first request
   * (the old path; kept for the bench's side-by-side and used whenever hooks or MCP servers need a tree).
   */
  worktree?: 'lazy' | 'eager';
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
  // The layers check the agent's commands synchronously with the bash grammar, which loads on first use.
  await ensureBashGrammar();
  if (trust === 'changed') {
    return { state: 'failed', reason: `model work is paused in ${t.repo}: its policy or hook files changed since you trusted it; run 'kairos trust ${t.repo}'`, costMicro: 0 };
  }
  const hasMcp = Object.keys(t.policy.mcp_servers ?? {}).length > 0;
  const workspace = new TaskWorkspace({ repo: t.repo, taskId: t.taskId, home: d.home, mode: d.worktree === 'eager' || hasMcp ? 'eager' : 'lazy' });
  await workspace.start();
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
    const sessionHooks = () =>
      createHooks({
        sources: hookSources,
        projectDir: t.repo,
        // With no hook registered the first set is never fired; with any, it is made again on the worktree.
        workDir: workspace.current()?.dir ?? t.repo,
        sessionId: `kairos-task-${t.taskId}`,
        ...hookSettings,
      });
    let hooks = sessionHooks();
    // A hook runs in the worktree (its cwd, the base of its file paths) and may run at any step: with
    // any hook the tree is made before the first request, as before.
    if (hooks.registry.hooks.length > 0 && !workspace.current()) {
      await workspace.materialise();
      hooks = sessionHooks();
    }
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
      // Read when the coordinator splits: split needs the tree, so it exists by then.
      get coordinatorDir() {
        return workspace.current()?.dir ?? workspace.plannedDir;
      },
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
            tools: { evaluate, recordBlocked, execute: toolExecutor(fixedTree(w.worktree), t.repo, t.policy.sandbox, workerSpill, d, () => ({ text: 'workers cannot notify', failed: true }), undefined) },
            hooks: createHooks({ sources: hookSources, projectDir: t.repo, workDir: w.worktree.dir, sessionId: `kairos-task-${w.id}`, ...hookSettings }),
            spillDir: workerSpill,
            limits,
            log: d.log,
          },
        );
      },
    });
    const execute = toolExecutor(
      workspaceTree(workspace, spillDir),
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
    // MCP servers start in the tree (the workspace is eager when there are any).
    const mcp = await connectMcpServers(t.policy.mcp_servers ?? {}, { cwd: workspace.current()?.dir ?? t.repo, env: process.env, log: d.log });
    const pluginTools = pluginToolbox(plugins.plugins);
    let outcome: Awaited<ReturnType<typeof runAgent>>;
    try {
      outcome = await runAgent(
        { taskId: t.taskId, repo: t.repo, trigger: t.trigger, origin: t.origin, instruction: t.instruction, context: t.context, worktree: () => workspace.root() },
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
          // The checks and the snapshot spawn git, and each spawn blocks the event loop until the child
          // has exec'd: they start once the first request has left, and run while the model answers.
          onRequestSent: () => void workspace.begin(),
          // Reads wait only for the base; anything else for the worktree, started as soon as a turn asks for it.
          // (The executor makes the worktree itself when a tool reaches it; this only starts it early.)
          prepareTool: async (name) => {
            // An untrusted repository's edits and commands are denied: no checkout for them.
            if (READ_TOOLS.has(name) || FINISH_TOOLS.has(name) || trustStatus(d.db, t.repo) !== 'trusted') await workspace.base();
            else await workspace.materialise();
          },
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
    const wt = workspace.current();
    // Nothing that changes a file ran, so no worktree was made: there is no diff to take.
    if (!wt) return untrustedEnd('done', `nothing to propose: task ${t.taskId}: the agent changed no file (its worktree was never needed); there is nothing to propose`);
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
    await workspace.settled();
    // A task whose checks failed (its branch or folder already there) leaves them to reconciliation.
    if (workspace.owned())
      await removeTaskWorktree({ repo: t.repo, taskId: t.taskId, home: d.home }).catch((e: Error) => d.log.warn({ task: t.taskId, err: e.message }, 'worktree not removed'));
    fs.rmSync(spillDir, { recursive: true, force: true });
  }
}

/** The end of a task whose edits or commands the trust layer denied: what happened and the command that changes it. */
export function untrustedReason(repo: string, denied: number): string {
  return `nothing to propose: ${repo} is not trusted, so the agent could only read (${denied} edit${denied === 1 ? '' : 's'} or command${denied === 1 ? '' : 's'} denied); run 'kairos trust ${repo}' to let it edit its worktree and run commands, then run the trigger again`;
}

type ToolOutput = { text: string; failed?: boolean };

/** The built-in read tools: before the worktree exists they answer from the task's base. */
const READ_TOOLS = new Set<string>(['read_file', 'list_files', 'grep']);
/** Tools that touch no file (the loop or the task handles them). */
const FINISH_TOOLS = new Set<string>(['propose', 'sleep', 'notify']);

/** One handler per built-in tool, each given the input its zod schema parsed. propose and sleep end the loop there, so they have none. */
type ToolHandlers = { [N in ToolName]?: (input: ToolInput<N>) => Promise<ToolOutput> };

/** The single dispatch point: the handler of `name`, called with that tool's input type. */
function dispatchTool<N extends ToolName>(handlers: ToolHandlers, name: N, input: ToolInput<N>): Promise<ToolOutput> {
  const handler = handlers[name];
  return handler ? handler(input) : Promise.resolve({ text: `tool ${name} is handled by the loop`, failed: true });
}

/**
 * Each tool's schema, typed so that looking one up by a generic name parses to that tool's input
 * type. notify's message arrives redacted after runToolCall validated it, and redaction may have made
 * it longer than the schema's bound: here it is only required to be a string.
 */
const HANDLER_INPUTS: { [N in ToolName]: z.ZodType<ToolInput<N>> } = {
  ...ToolInputs,
  notify: z.object({ message: z.string() }).strict(),
};

/**
 * runToolCall hands over the input it validated with `ToolInputs[name]` (after a hook's update,
 * validated again), as the record hooks see. It is parsed once more into the handler's type; a
 * failure here is a bug in the caller, reported to the model as an internal error.
 */
function validatedInput<N extends ToolName>(name: N, input: Record<string, unknown>): ToolInput<N> {
  return HANDLER_INPUTS[name].parse(input);
}

type Tree = Pick<TaskWorktree, 'dir' | 'gitDir'>;

/** The tree a tool executor acts on: the worktree once it exists (made on demand), else the base's objects. */
interface TreeAccess {
  current(): Tree | undefined;
  materialise(): Promise<Tree>;
  baseScope(): Promise<BaseScope>;
}

/** A tree that exists from the start (a worker's worktree). */
function fixedTree(wt: Tree): TreeAccess {
  return {
    current: () => wt,
    materialise: async () => wt,
    baseScope: async () => {
      throw new Error('a worker reads its worktree, never a base');
    },
  };
}

function workspaceTree(ws: TaskWorkspace, spillDir: string): TreeAccess {
  return {
    current: () => ws.current(),
    materialise: () => ws.materialise(),
    baseScope: async () => {
      const base = await ws.base(); // first: the paths below are known once the checks are done
      return { gitDir: ws.userGitDir, base, roots: [ws.repo, ws.plannedDir, spillDir], maxReadBytes: READ_BYTES };
    },
  };
}

const READ_BYTES = 256 * 1024;

/** The built-in tools bound to one tree; notify and split are the caller's (a worker gets neither). */
function toolExecutor(
  tree: TreeAccess,
  repo: string,
  sandboxSettings: SandboxSettings | undefined,
  spillDir: string,
  d: Pick<AgentTaskDeps, 'home' | 'sandbox'>,
  notify: (message: string) => ToolOutput | Promise<ToolOutput>,
  split: ((tasks: ToolInput<'split'>['tasks']) => Promise<ToolOutput>) | undefined,
): (name: ToolName, input: Record<string, unknown>) => Promise<ToolOutput> {
  // The worktree's git dir as the daemon made it (found from the repository's side, never from the tree's `.git`).
  const scope = (wt: Tree) => ({ root: wt.dir, gitDir: wt.gitDir, readOnlyRoots: [spillDir], maxReadBytes: READ_BYTES });
  const inSpill = (p: string) => p === spillDir || p.startsWith(spillDir + path.sep);
  const sandbox = { sandbox: d.sandbox, ...(sandboxSettings ? { settings: sandboxSettings } : {}), home: os.homedir(), kairosHome: d.home };
  /** The worktree, made on the first tool that writes, runs or asks git; reads before that answer from the base. */
  const worktree = async (): Promise<Tree> => tree.current() ?? tree.materialise();
  const handlers: ToolHandlers = {
    read_file: async (input) => {
      const made = tree.current();
      if (made) return { text: await readFile(scope(made), input) };
      // The compression spill folder is read as it is; everything else from the base.
      if (inSpill(input.path)) return { text: await readFile({ root: spillDir, readOnlyRoots: [spillDir], maxReadBytes: READ_BYTES }, input) };
      return { text: await readBaseFile(await tree.baseScope(), input) };
    },
    list_files: async (input) => {
      const made = tree.current();
      return { text: made ? await listFiles(scope(made), input) : await listBaseFiles(await tree.baseScope(), input) };
    },
    grep: async (input) => {
      const made = tree.current();
      return { text: made ? await grep(scope(made), input) : await grepBase(await tree.baseScope(), input) };
    },
    write_file: async (input) => ({ text: await writeFile(scope(await worktree()), input) }),
    edit_file: async (input) => ({ text: await editFile(scope(await worktree()), input) }),
    git: async (input) => {
      const wt = await worktree();
      return { text: await gitRead({ git: { gitDir: wt.gitDir, workTree: wt.dir }, repo, ...sandbox, timeoutMs: 30_000 }, input) };
    },
    run_command: async (input) => runAgentCommand({ root: (await worktree()).dir, repo, ...sandbox, timeoutMs: AGENT_COMMAND_TIMEOUT_MS, outputLimit: 64_000 }, input),
    // notify touches no file: it never makes the worktree.
    notify: async (input) => notify(input.message),
    split: async (input) => {
      if (!split) return { text: 'split is not available here', failed: true };
      await worktree(); // workers branch from the task's tree
      return split(input.tasks);
    },
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
