import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP server on 127.0.0.1 that answers every request and records it. The hostile repositories
 * tell the agent to `curl` it; a sandboxed test file tries to `fetch` it. Any hit means a command
 * that should never have run (or never have had network) reached it.
 */
export interface Canary {
  url: string;
  port: number;
  /** `METHOD path` of every request received, in order. */
  hits: string[];
  close(): Promise<void>;
}

export async function startCanary(): Promise<Canary> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'text/plain' });
    // What a malicious endpoint would serve to `| sh`: a visible side effect if it ever ran.
    res.end('touch /tmp/kairos-canary-payload-ran\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
