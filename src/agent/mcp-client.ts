import type Anthropic from '@anthropic-ai/sdk';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StdioClientTransport, StdioServerParameters } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { McpServerConfig } from '../policy/schema.js';
import { resultText } from './mcp/content.js';
import { KairosError, UnavailableError, type KairosErrorOptions, errnoCode, isErrno, messageOf } from '../core/errors.js';

/**
 * The SDK's stdio transport as it behaves: it lays `env` over a few of the daemon's own variables
 * in the spawned server's environment, where an undefined value leaves a variable out (serverEnv
 * relies on that). Its declared type takes strings only; this declaration adds undefined, and the
 * SDK's class is checked against it where it is loaded.
 */
declare class EnvUnsettingStdioTransport extends StdioClientTransport {
  constructor(server: Omit<StdioServerParameters, 'env'> & { env?: Record<string, string | undefined> });
}

/**
 * The MCP SDK is loaded when a task first connects to a server, not with the daemon: it costs
 * ~26 MB and ~0.4 s to load, and most repositories configure no MCP server at all.
 */
const loadMcpSdk = async () => {
  const [client, stdio, http, types] = await Promise.all([
    import('@modelcontextprotocol/sdk/client/index.js'),
    import('@modelcontextprotocol/sdk/client/stdio.js'),
    import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ]);
  const stdioTransport: typeof EnvUnsettingStdioTransport = stdio.StdioClientTransport;
  return {
    Client: client.Client,
    StdioClientTransport: stdioTransport,
    DEFAULT_INHERITED_ENV_VARS: stdio.DEFAULT_INHERITED_ENV_VARS,
    StreamableHTTPClientTransport: http.StreamableHTTPClientTransport,
    ErrorCode: types.ErrorCode,
    McpError: types.McpError,
  };
};
type McpSdk = Awaited<ReturnType<typeof loadMcpSdk>>;
let mcpSdk: Promise<McpSdk> | undefined;
/** Set once a connection was attempted; every error class below can only exist after that. */
let loadedSdk: McpSdk | undefined;
const sdk = async (): Promise<McpSdk> => (loadedSdk = await (mcpSdk ??= loadMcpSdk()));
import { ToolNamer } from './mcp/tool-names.js';
import { definedOnly } from '../core/record.js';

/**
 * MCP servers listed in the policy (`mcp_servers:`), as tools for the agent: `mcp__<server>__<tool>`.
 *
 * This module only connects and relays. Whether a call may run is the permission layer's business:
 * the agent loop checks `toolCallFor(name, input)` (src/policy/rules.ts parses mcp__ names) before
 * calling `call`, like any other tool. Everything that can go wrong with a server (it does not
 * start, it exits, it hangs, it answers with an error) comes back as a value; nothing here throws
 * into the agent loop.
 *
 * A stdio server is a program the policy names, so it gets a minimal environment: PATH, HOME and
 * the `env` its entry configures; never the daemon's ANTHROPIC_API_KEY or anything else it holds.
 */

export interface McpLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface ConnectMcpOptions {
  /** Working folder of stdio servers (the task's worktree). */
  cwd: string;
  /** Where PATH and HOME for stdio servers come from; default process.env. Nothing else is taken from it. */
  env?: NodeJS.ProcessEnv;
  /** Time limit of one tool call; default 60 s. The call is cancelled (notifications/cancelled) when it passes. */
  timeoutMs?: number;
  /** Time limit to start a server, initialise and list its tools; default 30 s. */
  connectTimeoutMs?: number;
  /** Characters of one result kept (head and tail); default 100 000. */
  outputLimit?: number;
  log?: McpLog;
}

export interface McpCallResult {
  ok: boolean;
  output: string;
}

export interface McpServerFailure {
  server: string;
  error: string;
}

export interface McpToolbox {
  /** The tools for the Messages API request, names `mcp__<server>__<tool>`. */
  tools(): Anthropic.Tool[];
  /** Whether `name` is one of this toolbox's tools. */
  has(name: string): boolean;
  /** Calls the tool; failures, error results and time-outs are `{ok: false, output: why}`. */
  call(name: string, input: Record<string, unknown>): Promise<McpCallResult>;
  /** Servers that connected. */
  servers(): string[];
  /** Servers that did not start or connect, with why; they are left out. */
  failures(): McpServerFailure[];
  /** Closes every connection and stops every stdio server. Safe to call twice. */
  close(): Promise<void>;
}

const CLIENT_INFO = { name: 'kairos', version: '0.1.0' };
const DEFAULTS = { timeoutMs: 60_000, connectTimeoutMs: 30_000, outputLimit: 100_000 };
const NEVER_PASSED = ['ANTHROPIC_API_KEY'];

type Resolved = ConnectMcpOptions & typeof DEFAULTS;

/** A server that could not be used; its message says which and why. */
export class McpConnectError extends UnavailableError {
  override readonly name = 'McpConnectError';
  constructor(
    readonly server: string,
    message: string,
    options?: KairosErrorOptions,
  ) {
    super(message, options);
  }
}

interface Connection {
  server: string;
  client: Client;
  transport: StdioClientTransport | StreamableHTTPClientTransport;
  /** Why the connection ended on its own, once it has. */
  lost?: string;
  stderrTail(): string;
}

interface Entry {
  conn: Connection;
  /** The tool's own name on its server. */
  tool: string;
  spec: Anthropic.Tool;
}

/** Connects to every server at once; a server that fails is logged, listed in failures() and skipped. */
export async function connectMcpServers(servers: Record<string, McpServerConfig>, opts: ConnectMcpOptions): Promise<McpToolbox> {
  const o: Resolved = { ...opts, ...DEFAULTS, ...definedOnly(opts) };
  const results = await Promise.allSettled(Object.entries(servers).map(([name, cfg]) => connectOne(name, cfg, o)));

  const namer = new ToolNamer();
  const entries = new Map<string, Entry>();
  const connections: Connection[] = [];
  const failures: McpServerFailure[] = [];
  results.forEach((r, i) => {
    const server = Object.keys(servers)[i]!;
    if (r.status === 'rejected') {
      const error = messageOf(r.reason);
      failures.push({ server, error });
      o.log?.warn({ server, error }, `MCP server '${server}' is not available`);
      return;
    }
    const { conn, tools } = r.value;
    connections.push(conn);
    for (const t of tools) {
      const name = namer.assign(server, t.name);
      const description = `[MCP server '${server}'] ${t.description ?? t.title ?? t.name}`;
      entries.set(name, { conn, tool: t.name, spec: { name, description, input_schema: t.inputSchema as Anthropic.Tool.InputSchema } });
    }
    o.log?.info({ server, tools: tools.length }, `MCP server '${server}' connected`);
  });

  let closing: Promise<void> | undefined;
  return {
    tools: () => [...entries.values()].map((e) => structuredClone(e.spec)),
    has: (name) => entries.has(name),
    servers: () => connections.map((c) => c.server),
    failures: () => failures.map((f) => ({ ...f })),
    call: (name, input) => callTool(entries.get(name), name, input, o, () => closing !== undefined),
    close: () => (closing ??= Promise.all(connections.map(closeOne)).then(() => undefined)),
  };
}

interface ListedTool {
  name: string;
  title?: string | undefined;
  description?: string | undefined;
  inputSchema: { type: 'object'; [k: string]: unknown };
}

async function connectOne(server: string, cfg: McpServerConfig, o: Resolved): Promise<{ conn: Connection; tools: ListedTool[] }> {
  const { Client, StdioClientTransport, StreamableHTTPClientTransport, DEFAULT_INHERITED_ENV_VARS } = await sdk();
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  let tail = '';
  let transport: StdioClientTransport | StreamableHTTPClientTransport;
  if ('command' in cfg) {
    const stdio = new StdioClientTransport({
      command: cfg.command,
      args: cfg.args ?? [],
      env: serverEnv(server, cfg.env ?? {}, o.env ?? process.env, o.log, DEFAULT_INHERITED_ENV_VARS),
      cwd: o.cwd,
      // Piped, not inherited: a server's chatter must not reach the daemon's own stderr, and its
      // last words explain a failed start.
      stderr: 'pipe',
    });
    stdio.stderr?.on('data', (d: Buffer) => (tail = (tail + d.toString('utf8')).slice(-2000)));
    transport = stdio;
  } else {
    transport = new StreamableHTTPClientTransport(new URL(cfg.url), { requestInit: { headers: cfg.headers ?? {} } });
  }
  const conn: Connection = { server, client, transport, stderrTail: () => tail.trim() };
  client.onclose = () => {
    conn.lost ??= 'the connection closed';
  };
  const where = 'command' in cfg ? `'${[cfg.command, ...(cfg.args ?? [])].join(' ')}'` : cfg.url;
  try {
    const tools = await deadline(
      (async () => {
        await client.connect(transport, { timeout: o.connectTimeoutMs });
        return listTools(client, o.connectTimeoutMs);
      })(),
      o.connectTimeoutMs,
    );
    return { conn, tools };
  } catch (e) {
    await closeOne(conn);
    const said = conn.stderrTail();
    const why = e instanceof DeadlineError ? `it did not finish starting within ${o.connectTimeoutMs} ms` : describe(e);
    throw new McpConnectError(
      server,
      `MCP server '${server}' (${where}) could not be used: ${why}${said ? `; it said: ${lastLines(said)}` : ''} — check its entry under mcp_servers in the policy`,
      { cause: e },
    );
  }
}

async function listTools(client: Client, timeoutMs: number): Promise<ListedTool[]> {
  const out: ListedTool[] = [];
  let cursor: string | undefined;
  // A server that keeps returning cursors must not keep us here forever.
  for (let page = 0; page < 100; page++) {
    const r = await client.listTools(cursor ? { cursor } : {}, { timeout: timeoutMs });
    out.push(...(r.tools as ListedTool[]));
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  return out;
}

async function callTool(
  entry: Entry | undefined,
  name: string,
  input: Record<string, unknown>,
  o: Resolved,
  closed: () => boolean,
): Promise<McpCallResult> {
  if (!entry) return { ok: false, output: `there is no MCP tool named '${name}'` };
  const { conn, tool } = entry;
  const label = `MCP tool '${tool}' of server '${conn.server}'`;
  if (closed()) return { ok: false, output: `${label} is not available: the MCP connections were closed` };
  if (conn.lost) return { ok: false, output: `${label} is not available: ${conn.lost}${conn.stderrTail() ? ` (it said: ${lastLines(conn.stderrTail())})` : ''}` };
  try {
    const r = await deadline(conn.client.callTool({ name: tool, arguments: input }, undefined, { timeout: o.timeoutMs }), o.timeoutMs + 1_000);
    const text = resultText(r, o.outputLimit);
    if (r.isError) return { ok: false, output: text || `${label} failed without saying why` };
    return { ok: true, output: text };
  } catch (e) {
    if (isMcpError(e, 'RequestTimeout') || e instanceof DeadlineError) {
      return { ok: false, output: `${label} did not answer within ${o.timeoutMs} ms; the call was cancelled` };
    }
    return { ok: false, output: `${label} failed: ${describe(e)}` };
  }
}

async function closeOne(conn: Connection): Promise<void> {
  conn.lost ??= 'the connection was closed';
  if (loadedSdk && conn.transport instanceof loadedSdk.StreamableHTTPClientTransport && conn.transport.sessionId) {
    // Ends the session on the server; a server that does not support it answers 405, which is fine.
    await deadline(conn.transport.terminateSession(), 2_000).catch(() => {});
  }
  await conn.client.close().catch(() => {});
}

/**
 * The environment of a stdio server. The SDK's transport lays the server's env over a few of the
 * daemon's own variables (USER, SHELL, TERM, LOGNAME, ...); setting those to undefined makes
 * node's spawn leave them out, so the server sees exactly PATH, HOME and its configured env.
 */
function serverEnv(server: string, configured: Record<string, string>, base: NodeJS.ProcessEnv, log: McpLog | undefined, inherited: readonly string[]): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const k of inherited) env[k] = undefined;
  if (base.PATH !== undefined) env.PATH = base.PATH;
  if (base.HOME !== undefined) env.HOME = base.HOME;
  Object.assign(env, configured);
  for (const k of NEVER_PASSED) {
    if (configured[k] !== undefined) log?.warn({ server, variable: k }, `MCP server '${server}': ${k} is never passed to an MCP server; it was left out`);
    env[k] = undefined;
  }
  return env;
}

function isMcpError(e: unknown, code: 'RequestTimeout' | 'ConnectionClosed'): boolean {
  return !!loadedSdk && e instanceof loadedSdk.McpError && e.code === loadedSdk.ErrorCode[code];
}

class DeadlineError extends KairosError {
  override readonly name = 'DeadlineError';
}

/** A backstop for promises the SDK's own request time-outs do not cover (a spawn or a socket that never answers). */
function deadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

function describe(e: unknown): string {
  if (isErrno(e, 'ENOENT') && e.syscall?.startsWith('spawn')) return `the command was not found (${e.path ?? ''})`;
  if (isMcpError(e, 'ConnectionClosed')) return 'it exited or closed the connection';
  // fetch says only "fetch failed"; the reason (ECONNREFUSED, a TLS error, ...) is in its cause.
  const cause = e instanceof Error ? e.cause : undefined;
  const msg = messageOf(e);
  const why = errnoCode(cause) ?? (cause instanceof Error ? cause.message : undefined);
  return why ? `${msg} (${why})` : msg;
}

function lastLines(text: string): string {
  return text.split('\n').slice(-5).join(' | ');
}

