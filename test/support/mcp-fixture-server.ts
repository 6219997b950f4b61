import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

/**
 * A small, real MCP server for tests, built with the SDK's own server classes:
 *
 *   node mcp-fixture-server.ts stdio     MCP over stdin/stdout
 *   node mcp-fixture-server.ts exit      writes to stderr and exits 3 at once (a server that fails to start)
 *   startFixtureHttpServer()             streamable HTTP on 127.0.0.1 (stateless: one server per request)
 *
 * Tools: echo, add (mixed content blocks), fail (an error result), crash (a handler that throws),
 * sleep (hangs until cancelled), env (reads a variable), cwd, and two names that collide once
 * sanitised for the Messages API: "lookup.docs" and "lookup_docs".
 */
export function createFixtureServer(label = 'fixture'): McpServer {
  const server = new McpServer({ name: `kairos-${label}`, version: '1.0.0' });
  const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });

  server.registerTool('echo', { description: 'Echoes the text back.', inputSchema: { text: z.string() } }, ({ text: t }) => text(`echo: ${t}`));
  server.registerTool('add', { description: 'Adds two numbers.', inputSchema: { a: z.number(), b: z.number() } }, ({ a, b }) => ({
    content: [
      { type: 'text' as const, text: `${a} + ${b} =` },
      { type: 'image' as const, data: 'iVBORw0KGgo=', mimeType: 'image/png' },
      { type: 'text' as const, text: String(a + b) },
    ],
  }));
  server.registerTool('fail', { description: 'Answers with an error result.', inputSchema: { message: z.string() } }, ({ message }) => ({
    isError: true,
    content: [{ type: 'text' as const, text: `failed: ${message}` }],
  }));
  server.registerTool('crash', { description: 'Throws inside the handler.' }, () => {
    throw new Error('the fixture crashed on purpose');
  });
  server.registerTool('sleep', { description: 'Waits, until cancelled.', inputSchema: { ms: z.number() } }, async ({ ms }, extra) => {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      extra.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
    return text(`slept ${ms} ms`);
  });
  server.registerTool('env', { description: 'Reads an environment variable.', inputSchema: { name: z.string() } }, ({ name }) =>
    text(process.env[name] ?? '(unset)'),
  );
  server.registerTool('env_names', { description: 'Lists the environment variable names.' }, () => text(Object.keys(process.env).sort().join(',')));
  server.registerTool('cwd', { description: 'The working folder.' }, () => text(process.cwd()));
  server.registerTool('lookup.docs', { description: 'Dotted name.' }, () => text(`${label}: dotted`));
  server.registerTool('lookup_docs', { description: 'Underscored name.' }, () => text(`${label}: underscored`));
  return server;
}

export interface FixtureHttpServer {
  url: string;
  /** POST requests seen, by JSON-RPC method. */
  methods: string[];
  close(): Promise<void>;
}

/** The fixture over streamable HTTP on 127.0.0.1, an ephemeral port, path /mcp. */
export async function startFixtureHttpServer(): Promise<FixtureHttpServer> {
  const methods: string[] = [];
  const httpServer = http.createServer((req, res) => {
    if (req.url !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    if (req.method !== 'POST') {
      // Stateless: no standalone SSE stream and no session to delete.
      res.writeHead(405, { Allow: 'POST' }).end();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        res.writeHead(400).end();
        return;
      }
      for (const m of [parsed].flat() as Array<{ method?: string }>) if (m.method) methods.push(m.method);
      const server = createFixtureServer('http');
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      void server.connect(transport).then(() => transport.handleRequest(req, res, parsed));
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    methods,
    close: () =>
      new Promise<void>((resolve) => {
        httpServer.closeAllConnections();
        httpServer.close(() => resolve());
      }),
  };
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (isMain) {
  const mode = process.argv[2] ?? 'stdio';
  if (mode === 'exit') {
    process.stderr.write('fixture: refusing to start (exit mode)\n');
    process.exit(3);
  }
  const server = createFixtureServer('stdio');
  await server.connect(new StdioServerTransport());
  // Exit when the client closes stdin, even while a `sleep` call is still pending.
  process.stdin.on('end', () => process.exit(0));
}
