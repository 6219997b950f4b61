import type { Readable, Writable } from 'node:stream';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { CallToolResult, JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { EventType } from '../events/event.js';
import { spendReport } from '../model/spend-report.js';
import { redactDeep, redactText } from '../policy/filter.js';
import { loadPolicyOrDefault } from '../policy/load.js';
import { TASK_STATES } from '../store/task-states.js';
import type { Db } from '../store/db.js';
import { EventStore } from '../store/event-store.js';
import { ApprovalStore } from '../store/approval-store.js';
import { ProposalStore } from '../store/proposal-store.js';
import { TaskStore } from '../store/task-store.js';
import { resolveRepo } from './context.js';
import { callDaemon, DaemonNotRunningError } from './control-client.js';
import { taskJson, withStore } from './listings.js';
import { isCodedRefusal } from './protocol.js';

/**
 * `kairos mcp`: Kairos as an MCP server over stdio, so a coding assistant can see what the daemon
 * saw and did, and nudge it.
 *
 * The read-only tools read the SQLite store directly, as `kairos events` does, so they answer
 * with the daemon down; status and poke need the live daemon and say so, as a value, when it is
 * not running. Every answer is JSON text passed through the output filter (secrets redacted),
 * because it leaves the machine's trust boundary into another model's context.
 *
 * There is deliberately no tool that approves, applies or denies anything: a change to the
 * user's tree waits for a human, and an MCP client is a model acting for them, not them.
 */

export const KAIROS_MCP_TOOLS = ['kairos_status', 'kairos_events', 'kairos_tasks', 'kairos_pending', 'kairos_spend', 'kairos_poke'] as const;

export const KAIROS_MCP_INSTRUCTIONS = `Kairos is an ambient coding daemon watching the user's git repositories: it stores file, git, cron and manual events, runs the triggers in the user's policy, and prepares proposals in isolated worktrees.
Use kairos_status (is it running, what it watches), kairos_events, kairos_tasks, kairos_pending (proposals waiting for the user's approval) and kairos_spend (model spend against the budget) to see what it saw and did; kairos_poke sends it a manual event (fires triggers with on: {manual: true}).
There is no tool to approve, apply or deny a proposal, on purpose: anything that changes the user's working tree waits for the human, who approves it in the Kairos CLI, tray or notification. Tell the user what is pending instead.`;

export interface KairosMcpDeps {
  /** $KAIROS_HOME. */
  home: string;
  now?: () => number;
}

/** Why a tool could not answer, as the JSON the client sees. */
interface Failure {
  error: string;
  code: string;
}

const EVENT_LIMIT = { default: 50, max: 500 };
const TASK_LIMIT = { default: 20, max: 200 };
const DIFF_LIMIT = 20_000;

/** The server with its tools registered; connect it to a transport (see serveKairosMcp). */
export function createKairosMcpServer(deps: KairosMcpDeps): McpServer {
  const { home } = deps;
  const now = deps.now ?? Date.now;
  const server = new McpServer({ name: 'kairos', version: '0.1.0' }, { instructions: KAIROS_MCP_INSTRUCTIONS });
  const readOnly = { readOnlyHint: true, destructiveHint: false, openWorldHint: false };
  const repoArg = z.string().min(1).optional().describe('A repository folder (or any path inside it); default: every repository.');

  server.registerTool(
    'kairos_status',
    { description: 'Whether the Kairos daemon runs, which repositories it watches (trust, triggers, policy problems), and its queues.', annotations: readOnly },
    () => answer(() => callDaemon(home, 'status', {}, 10_000)),
  );

  server.registerTool(
    'kairos_events',
    {
      description: 'Stored events (file changes, git operations, cron ticks, manual pokes), newest first. Works with the daemon down.',
      inputSchema: {
        repo: repoArg,
        limit: z.number().int().min(1).max(EVENT_LIMIT.max).optional().describe(`At most this many (default ${EVENT_LIMIT.default}).`),
        type: z.union([EventType, z.array(EventType)]).optional().describe('Only events of this type (or these types).'),
      },
      annotations: readOnly,
    },
    ({ repo, limit, type }) =>
      answer(() =>
        withStore(home, (db) =>
          new EventStore(db).list({
            repo: repo === undefined ? undefined : resolveRepo(repo),
            limit: limit ?? EVENT_LIMIT.default,
            types: type === undefined ? undefined : [type].flat(),
          }),
        ),
      ),
  );

  server.registerTool(
    'kairos_tasks',
    {
      description: 'Tasks (fired triggers and agent work) with their state, exit code and bounded output, newest first. Works with the daemon down.',
      inputSchema: {
        repo: repoArg,
        limit: z.number().int().min(1).max(TASK_LIMIT.max).optional().describe(`At most this many (default ${TASK_LIMIT.default}).`),
        state: z.enum(TASK_STATES).optional().describe('Only tasks in this state.'),
      },
      annotations: readOnly,
    },
    ({ repo, limit, state }) =>
      answer(() =>
        withStore(home, (db) => {
          const store = new TaskStore(db);
          return store
            .list({ repo: repo === undefined ? undefined : resolveRepo(repo), limit: limit ?? TASK_LIMIT.default, state })
            .map((t) => taskJson(t, t.batch_id ? store.batchPaths(t.batch_id) : []));
        }),
      ),
  );

  server.registerTool(
    'kairos_pending',
    {
      description:
        "What waits for the user's approval, oldest first: proposals prepared in a worktree (summary, files, diff hash) and commands that asked, with when each expires. Approving is the user's, not a tool's.",
      inputSchema: {
        repo: repoArg,
        include_diff: z.boolean().optional().describe(`Include each diff (cut at ${DIFF_LIMIT} characters). Default false.`),
      },
      annotations: readOnly,
    },
    ({ repo, include_diff }) =>
      answer(() =>
        withStore(home, (db) => pendingApprovals(db, { repo: repo === undefined ? undefined : resolveRepo(repo), includeDiff: !!include_diff, now: now() })),
      ),
  );

  server.registerTool(
    'kairos_spend',
    {
      description: 'Model spend per hour, day and month against the caps in the user policy, per model and trigger, and the prompt-cache share. Works with the daemon down.',
      annotations: readOnly,
    },
    () => answer(() => withStore(home, (db) => spendReport(db, loadPolicyOrDefault(home).budget, now()))),
  );

  server.registerTool(
    'kairos_poke',
    {
      description: 'Send the daemon a manual event: it fires the triggers with on: {manual: true}. Needs the daemon running.',
      inputSchema: {
        repo: repoArg,
        note: z.string().max(2_000).optional().describe('A note stored with the event.'),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    ({ repo, note }) =>
      answer(() => callDaemon(home, 'poke', { repo: repo === undefined ? undefined : resolveRepo(repo), note }, 10_000)),
  );

  return server;
}

/**
 * The approval queue's pending rows (not yet expired at `now`), oldest first. A proposal's diff is
 * read from the proposal it is bound to; what a human approves is that diff's hash.
 */
export function pendingApprovals(db: Db, o: { repo?: string | undefined; includeDiff: boolean; now: number }): Record<string, unknown>[] {
  const proposals = new ProposalStore(db);
  return new ApprovalStore(db)
    .pending(new Date(o.now).toISOString())
    .filter((a) => o.repo === undefined || a.repo === o.repo)
    .map((a) => {
      // Redacted before it is cut, so the cut cannot leave half a key that no rule recognises.
      const raw = o.includeDiff && a.proposalId ? proposals.get(a.proposalId)?.diff.toString('utf8') : undefined;
      const diff = raw === undefined ? undefined : redactText(raw);
      return {
        id: a.id,
        kind: a.kind,
        repo: a.repo,
        summary: a.summary,
        ...(a.command !== null ? { command: a.command } : {}),
        files: a.files,
        trigger: a.trigger,
        task_id: a.taskId,
        proposal_id: a.proposalId,
        hash: a.hash,
        cost_usd: a.costMicros / 1_000_000,
        created_at: a.createdAt,
        expires_at: a.expiresAt,
        ...(diff !== undefined ? { diff: clipDiff(diff) } : {}),
      };
    });
}

function clipDiff(diff: string): string {
  return diff.length <= DIFF_LIMIT ? diff : `${diff.slice(0, DIFF_LIMIT)}\n[... ${diff.length - DIFF_LIMIT} more characters; see the proposal in the Kairos CLI]`;
}

async function answer(fn: () => unknown): Promise<CallToolResult> {
  try {
    return { content: [{ type: 'text', text: redactedJson(await fn()) }] };
  } catch (e) {
    return { isError: true, content: [{ type: 'text', text: redactedJson(failure(e)) }] };
  }
}

/**
 * Each string is redacted as itself first (in JSON a diff's newlines become "\n", which would
 * blur the line-based rules), then the JSON text as a whole, which sees `"token": "..."` pairs.
 * Should that second pass cut through an escape and break the JSON, the first pass's text stands.
 */
function redactedJson(value: unknown): string {
  const text = JSON.stringify(redactDeep(value), null, 2);
  const whole = redactText(text);
  if (whole === text) return text;
  try {
    JSON.parse(whole);
    return whole;
  } catch {
    // A parse attempt: redaction broke the JSON, so the redacted text of each value (redactDeep above) is sent.
    return text;
  }
}


function failure(e: unknown): Failure {
  if (e instanceof DaemonNotRunningError) return { error: e.message, code: 'daemon_not_running' };
  // The hint (the fix) travels with a daemon's refusal now: the MCP client reads it too.
  if (isCodedRefusal(e)) return { error: e.hint && !e.message.includes(e.hint) ? `${e.message}; ${e.hint}` : e.message, code: e.code };
  if (!(e instanceof Error)) return { error: String(e), code: 'error' };
  if (e.name === 'UsageError') return { error: e.message, code: 'bad_params' };
  if (e.name === 'PolicyError') return { error: e.message, code: 'policy_error' };
  if (e.message.startsWith('no Kairos store in ')) return { error: e.message, code: 'no_store' };
  return { error: e.message, code: 'error' };
}

/**
 * Serves MCP on stdin/stdout until the client closes stdin and every request read has been
 * answered (a client may send its last request and close stdin at once). Nothing else may write
 * to stdout while this runs: it carries the protocol.
 */
export async function serveKairosMcp(deps: KairosMcpDeps, io: { stdin?: Readable; stdout?: Writable } = {}): Promise<void> {
  const stdin = io.stdin ?? process.stdin;
  const server = createKairosMcpServer(deps);
  const transport = new StdioServerTransport(stdin, io.stdout ?? process.stdout);
  await server.connect(transport);

  let open = 0;
  let ended = false;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const closeWhenIdle = () => {
    if (ended && open === 0) void server.close().finally(finish);
  };
  // Count requests in and answers out on the transport the server is connected to.
  const receive = transport.onmessage;
  transport.onmessage = (message: JSONRPCMessage) => {
    if ('method' in message && 'id' in message) open++;
    receive?.(message);
  };
  const send = transport.send.bind(transport);
  transport.send = async (message) => {
    try {
      await send(message);
    } finally {
      if (!('method' in message) && 'id' in message) {
        open--;
        closeWhenIdle();
      }
    }
  };
  // The SDK's stdio transport does not notice the end of stdin.
  const end = () => {
    if (ended) return;
    ended = true;
    closeWhenIdle();
  };
  stdin.once('end', end);
  stdin.once('close', end);
  await done;
}
