import http from 'node:http';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';

/**
 * A fake Anthropic Messages API on 127.0.0.1 that speaks the real wire format, so tests point the
 * real @anthropic-ai/sdk at it with `baseURL` and nothing in the client under test is stubbed.
 *
 * Replies come from a per-test FIFO queue (`script(...)`). When the queue is empty the server answers
 * with the fallback (by default DEFAULT_REPLY, a short text message), so an unscripted call still
 * works; `setFallback` replaces it with another reply or a function of the request.
 *
 * Token accounting is simulated: a request's prompt tokens are ~chars/4 of its text, and a prompt
 * cache keyed on the request prefix up to each `cache_control` breakpoint decides how many of them
 * are reported as cache_creation_input_tokens / cache_read_input_tokens. count_tokens returns the
 * same total, so a client that reserves on count_tokens can never be surprised by the usage.
 */

export interface TextBlockSpec {
  type: 'text';
  text: string;
}
export interface ToolUseBlockSpec {
  type: 'tool_use';
  id?: string;
  name: string;
  input: Record<string, unknown>;
}

/** A successful reply. Any usage field given overrides the simulated value. */
export interface MessageSpec {
  /** Shorthand for a single text block. */
  text?: string;
  content?: Array<TextBlockSpec | ToolUseBlockSpec>;
  stop_reason?: 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence';
  /**
   * Bill the request's whole max_tokens as output (the worst case a reservation must cover), as the
   * real API does for an answer cut off at max_tokens. Wins over usage.output_tokens.
   */
  billMaxTokens?: boolean;
  usage?: {
    input_tokens?: number;
    output_tokens?: number;
    cache_creation_input_tokens?: number;
    cache_read_input_tokens?: number;
  };
}

/** An HTTP error reply (the SDK sees an APIError with these headers). */
export interface StatusFault {
  status: 429 | 529 | 500 | 502 | 503 | 400 | 401;
  /** Sent as the retry-after header: seconds, or an HTTP date string. */
  retryAfter?: number | string;
  /** Sent as the x-should-retry header. */
  shouldRetry?: boolean;
  message?: string;
}
/** Destroys the socket: before any byte (`true`), or after message_start of a stream ('mid-stream'). */
export interface DropFault {
  drop: true | 'mid-stream';
}
/** Waits before answering with `then` (the fallback reply if omitted). */
export interface DelayFault {
  delayMs: number;
  then?: Reply;
}
/** Answers 200 with a body that is not valid JSON (or an SSE stream with a broken event). */
export interface MalformedFault {
  malformed: true;
}
export type Reply = MessageSpec | StatusFault | DropFault | DelayFault | MalformedFault;

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body (undefined when the body was not JSON). */
  body: any;
}

export type ReplyFn = (req: RecordedRequest) => Reply;

/** A message the server generated, so the real API would have billed it (a stream dropped after message_start included). */
export interface BilledMessage {
  request: RecordedRequest;
  model: string;
  usage: { input_tokens: number; output_tokens: number; cache_creation_input_tokens: number; cache_read_input_tokens: number };
}

export interface FakeAnthropicOptions {
  /** Answer count_tokens (default true); false answers 404 so clients must fall back to an estimate. */
  countTokens?: boolean;
  /** Reply when the queue is empty (default DEFAULT_REPLY). */
  fallback?: Reply | ReplyFn;
  /** Every successful reply bills its request's full max_tokens (see MessageSpec.billMaxTokens). */
  billMaxTokens?: boolean;
}

export interface FakeAnthropic {
  /** http://127.0.0.1:PORT, for the SDK's baseURL. */
  readonly url: string;
  /** Every request received, in arrival order (count_tokens included). */
  readonly requests: RecordedRequest[];
  /** Every raw request body, exactly as received. */
  readonly rawBodies: string[];
  /** What the real API would have billed: every message generated, in order. */
  readonly billed: BilledMessage[];
  /** Appends replies to the queue for POST /v1/messages. */
  script(...replies: Reply[]): void;
  /** Replies still queued. */
  pending(): number;
  /** Replaces the reply used when the queue is empty. */
  setFallback(reply: Reply | ReplyFn): void;
  /** Clears queue, recorded requests and the simulated prompt cache. */
  reset(): void;
  /** Messages requests (not count_tokens) received so far. */
  messageRequests(): RecordedRequest[];
  /** Resolves once no delayed reply is pending (a reply the client timed out on is still billed when it fires). */
  delayedDone(): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_REPLY: MessageSpec = { text: 'ok', stop_reason: 'end_turn' };

export function isStatusFault(r: Reply): r is StatusFault {
  return 'status' in r;
}
function isDrop(r: Reply): r is DropFault {
  return 'drop' in r;
}
function isDelay(r: Reply): r is DelayFault {
  return 'delayMs' in r;
}
function isMalformed(r: Reply): r is MalformedFault {
  return 'malformed' in r;
}

interface Segment {
  key: string;
  tokens: number;
  breakpoint: boolean;
}

function tokensOf(text: string): number {
  return Math.ceil(text.length / 4);
}

/** The prompt in cache order (tools, system, messages), one segment per block. */
function promptSegments(body: any): Segment[] {
  const out: Segment[] = [];
  const push = (block: any, text: string): void => {
    const { cache_control, ...rest } = block && typeof block === 'object' ? block : { value: block };
    void cache_control;
    out.push({ key: JSON.stringify(rest), tokens: tokensOf(text), breakpoint: Boolean(block?.cache_control) });
  };
  for (const tool of Array.isArray(body.tools) ? body.tools : []) push(tool, JSON.stringify(tool));
  if (typeof body.system === 'string') push({ type: 'text', text: body.system }, body.system);
  else for (const b of Array.isArray(body.system) ? body.system : []) push(b, String(b?.text ?? ''));
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    if (typeof m?.content === 'string') push({ role: m.role, text: m.content }, m.content);
    else
      for (const b of Array.isArray(m?.content) ? m.content : []) {
        const text = b?.type === 'text' ? String(b.text ?? '') : JSON.stringify(b);
        push({ role: m.role, ...b }, text);
      }
  }
  return out;
}

function hash(s: string): string {
  return crypto.createHash('sha256').update(s).digest('hex');
}

interface SimulatedUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  total: number;
}

class PromptCache {
  private entries = new Set<string>();
  clear(): void {
    this.entries.clear();
  }
  /** Total prompt tokens, without touching the cache (count_tokens). */
  static total(body: any): number {
    return Math.max(1, promptSegments(body).reduce((a, s) => a + s.tokens, 0));
  }
  /** The usage split for a messages request; writes the request's breakpoints into the cache. */
  use(body: any): SimulatedUsage {
    const segs = promptSegments(body);
    const total = Math.max(1, segs.reduce((a, s) => a + s.tokens, 0));
    const points: Array<{ key: string; tokens: number }> = [];
    let acc = '';
    let tokens = 0;
    for (const s of segs) {
      acc = hash(acc + '\u0000' + s.key);
      tokens += s.tokens;
      if (s.breakpoint) points.push({ key: `${body.model}:${acc}`, tokens });
    }
    let read = 0;
    for (const p of points) if (this.entries.has(p.key)) read = Math.max(read, p.tokens);
    const longest = points.reduce((a, p) => Math.max(a, p.tokens), 0);
    const creation = Math.max(0, longest - read);
    for (const p of points) this.entries.add(p.key);
    return {
      input_tokens: Math.max(0, total - read - creation),
      cache_creation_input_tokens: creation,
      cache_read_input_tokens: read,
      total,
    };
  }
}

let idSeq = 0;
function newId(prefix: string): string {
  idSeq += 1;
  return `${prefix}_fake${String(idSeq).padStart(6, '0')}`;
}

interface BuiltMessage {
  message: any;
  blocks: any[];
}

function buildMessage(spec: MessageSpec, body: any, cache: PromptCache, bill?: (m: any) => void, billMaxTokens = false): BuiltMessage {
  const blocks: any[] = (spec.content ?? [{ type: 'text', text: spec.text ?? 'ok' }]).map((b) =>
    b.type === 'text' ? { type: 'text', text: b.text } : { type: 'tool_use', id: b.id ?? newId('toolu'), name: b.name, input: b.input },
  );
  const sim = cache.use(body);
  const outChars = blocks.reduce((a, b) => a + (b.type === 'text' ? b.text.length : JSON.stringify(b.input).length), 0);
  const maxTokens = Number.isInteger(body.max_tokens) ? body.max_tokens : Infinity;
  const full = (spec.billMaxTokens ?? billMaxTokens) && Number.isFinite(maxTokens);
  const wantedOut = full ? maxTokens : (spec.usage?.output_tokens ?? Math.max(1, Math.ceil(outChars / 4)));
  // The real API never returns more than max_tokens of output; it stops with 'max_tokens' instead.
  const output = Math.min(wantedOut, maxTokens);
  const stop_reason =
    wantedOut > maxTokens || full ? 'max_tokens' : (spec.stop_reason ?? (blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn'));
  const usage = {
    input_tokens: spec.usage?.input_tokens ?? sim.input_tokens,
    cache_creation_input_tokens: spec.usage?.cache_creation_input_tokens ?? sim.cache_creation_input_tokens,
    cache_read_input_tokens: spec.usage?.cache_read_input_tokens ?? sim.cache_read_input_tokens,
    output_tokens: output,
  };
  const message = {
    id: newId('msg'),
    type: 'message',
    role: 'assistant',
    model: String(body.model ?? 'unknown'),
    content: blocks,
    stop_reason,
    stop_sequence: null,
    usage,
  };
  bill?.(message);
  return { message, blocks };
}

function errorType(status: number): string {
  if (status === 429) return 'rate_limit_error';
  if (status === 529) return 'overloaded_error';
  if (status === 400) return 'invalid_request_error';
  if (status === 401) return 'authentication_error';
  return 'api_error';
}

function sse(res: http.ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** Splits a string into a few chunks so deltas really arrive in pieces. */
function chunks(s: string, n = 3): string[] {
  if (s.length === 0) return [''];
  const size = Math.max(1, Math.ceil(s.length / n));
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

function writeStream(res: http.ServerResponse, built: BuiltMessage, dropMidStream: boolean, req: http.IncomingMessage): void {
  const { message, blocks } = built;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': newId('req') });
  const { output_tokens, ...inputUsage } = message.usage;
  void output_tokens;
  sse(res, 'message_start', {
    type: 'message_start',
    message: { ...message, content: [], stop_reason: null, usage: { ...inputUsage, output_tokens: 1 } },
  });
  if (dropMidStream) {
    req.socket.destroy();
    return;
  }
  sse(res, 'ping', { type: 'ping' });
  blocks.forEach((b, index) => {
    if (b.type === 'text') {
      sse(res, 'content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      for (const part of chunks(b.text))
        sse(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: part } });
    } else {
      sse(res, 'content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} },
      });
      for (const part of chunks(JSON.stringify(b.input)))
        sse(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: part } });
    }
    sse(res, 'content_block_stop', { type: 'content_block_stop', index });
  });
  sse(res, 'message_delta', {
    type: 'message_delta',
    delta: { stop_reason: message.stop_reason, stop_sequence: null },
    usage: { ...inputUsage, output_tokens: message.usage.output_tokens },
  });
  sse(res, 'message_stop', { type: 'message_stop' });
  res.end();
}

export async function startFakeAnthropic(options: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const queue: Reply[] = [];
  const requests: RecordedRequest[] = [];
  const rawBodies: string[] = [];
  const billed: BilledMessage[] = [];
  const cache = new PromptCache();
  let fallback: Reply | ReplyFn = options.fallback ?? DEFAULT_REPLY;
  const countTokens = options.countTokens ?? true;
  const billMax = options.billMaxTokens ?? false;
  const timers = new Set<NodeJS.Timeout>();
  const delayWaiters: Array<() => void> = [];

  const answer = (reply: Reply, rec: RecordedRequest, req: http.IncomingMessage, res: http.ServerResponse): void => {
    const body = rec.body ?? {};
    const bill = (m: any): void => {
      billed.push({ request: rec, model: m.model, usage: { ...m.usage } });
    };
    if (isDelay(reply)) {
      const t = setTimeout(() => {
        timers.delete(t);
        const next = reply.then ?? (typeof fallback === 'function' ? fallback(rec) : fallback);
        answer(next, rec, req, res);
        if (timers.size === 0) for (const w of delayWaiters.splice(0)) w();
      }, reply.delayMs);
      timers.add(t);
      return;
    }
    if (isDrop(reply)) {
      if (reply.drop === 'mid-stream' && body.stream === true) {
        writeStream(res, buildMessage(DEFAULT_REPLY, body, cache, bill, billMax), true, req);
      } else {
        req.socket.destroy();
      }
      return;
    }
    if (isStatusFault(reply)) {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'request-id': newId('req') };
      if (reply.retryAfter !== undefined) headers['retry-after'] = String(reply.retryAfter);
      if (reply.shouldRetry !== undefined) headers['x-should-retry'] = String(reply.shouldRetry);
      res.writeHead(reply.status, headers);
      res.end(
        JSON.stringify({ type: 'error', error: { type: errorType(reply.status), message: reply.message ?? `fake ${reply.status}` } }),
      );
      return;
    }
    if (isMalformed(reply)) {
      if (body.stream === true) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('event: message_start\ndata: {"type":"message_start","message":{"id":\n\n');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"id":"msg_broken","type":"message","content":[');
      }
      return;
    }
    const built = buildMessage(reply, body, cache, bill, billMax);
    if (body.stream === true) {
      writeStream(res, built, false, req);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': newId('req') });
    res.end(JSON.stringify(built.message));
  };

  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      let body: any;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = undefined;
      }
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const rec: RecordedRequest = { method: req.method ?? 'GET', path, headers: req.headers, body };
      requests.push(rec);
      rawBodies.push(raw);
      if (req.method === 'POST' && path === '/v1/messages/count_tokens') {
        if (!countTokens) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'count_tokens disabled' } }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ input_tokens: PromptCache.total(body ?? {}) }));
        return;
      }
      if (req.method === 'POST' && path === '/v1/messages') {
        if (!body || typeof body.model !== 'string' || !Array.isArray(body.messages)) {
          answer({ status: 400, message: 'model and messages are required' }, rec, req, res);
          return;
        }
        const reply = queue.shift() ?? (typeof fallback === 'function' ? fallback(rec) : fallback);
        answer(reply, rec, req, res);
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: `no route ${req.method} ${path}` } }));
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    rawBodies,
    billed,
    script: (...replies) => {
      queue.push(...replies);
    },
    pending: () => queue.length,
    setFallback: (r) => {
      fallback = r;
    },
    reset: () => {
      queue.length = 0;
      requests.length = 0;
      rawBodies.length = 0;
      billed.length = 0;
      cache.clear();
    },
    messageRequests: () => requests.filter((r) => r.path === '/v1/messages'),
    delayedDone: () => (timers.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => delayWaiters.push(resolve))),
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The paths a triage request is about: its "Changed paths (N): a, b, ..." line (src/pipeline/triage.ts). */
export function triagePaths(req: RecordedRequest): string[] | undefined {
  const messages = Array.isArray(req.body?.messages) ? req.body.messages : [];
  const first = messages[0]?.content;
  const text = typeof first === 'string' ? first : Array.isArray(first) ? first.map((b: any) => String(b?.text ?? '')).join('\n') : '';
  const m = /^Changed paths \((\d+)\): (.*)$/m.exec(text);
  if (!m) return undefined;
  const list = m[2]!.replace(/, \.\.\.$/, '');
  return list === '(none)' ? [] : list.split(', ');
}

/** Is this a triage request (the triage step's system prompt), rather than an agent turn or a dream? */
export function isTriageRequest(req: RecordedRequest): boolean {
  const system = req.body?.system;
  const text = typeof system === 'string' ? system : Array.isArray(system) ? system.map((b: any) => String(b?.text ?? '')).join('\n') : '';
  return text.startsWith('You are the triage step of Kairos');
}

export interface LabelVerdict {
  act: boolean;
  /** One line: why (the label's reason), shown in the daily log. */
  why: string;
}

/**
 * A triage model that answers from a labelling rule instead of judgement: `label` gets the paths
 * the request names and says act or sleep. Replays (bench/replay/history) use it so that the
 * scores measure the decision stage around the model — what reaches it, and when — against labels
 * the harness states, not a model's taste. Requests that are not triage (agent turns, dreams) get
 * `otherwise` (default: a short final answer, so an agent task ends with nothing to propose).
 */
export function labelledTriage(label: (paths: string[], req: RecordedRequest) => LabelVerdict, otherwise: Reply = { text: 'Nothing to change.', stop_reason: 'end_turn' }): ReplyFn {
  return (req) => {
    if (!isTriageRequest(req)) return otherwise;
    const v = label(triagePaths(req) ?? [], req);
    const answer = v.act
      ? { act: true, why: v.why, task: `Look at the latest change (${v.why}) and propose the smallest repair.`, urgency: 'next' }
      : { act: false, why: v.why, urgency: 'later' };
    return { text: JSON.stringify(answer) };
  };
}
