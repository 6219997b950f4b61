import fs from 'node:fs';
import net from 'node:net';
import { ControlRequest, socketPath } from '../src/cli/protocol.js';

export type ControlHandler = (params: Record<string, unknown>) => unknown | Promise<unknown>;

export interface ControlServer {
  close(): Promise<void>;
}

const MAX_LINE = 1_000_000;

/**
 * Serves the control protocol on $KAIROS_HOME/kairos.sock. The socket is created under a 0177 umask
 * so there is no moment when another user could connect, and the home folder itself is 0700.
 */
export async function startControlServer(home: string, handlers: Record<string, ControlHandler>): Promise<ControlServer> {
  const file = socketPath(home);
  fs.rmSync(file, { force: true }); // the lock is held, so any socket file here is a dead daemon's
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE) {
        sock.end(JSON.stringify({ id: 0, error: { message: 'request too large', code: 'too_large' } }) + '\n');
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) void answer(line).then((out) => sock.writable && sock.write(out + '\n'));
      }
    });
  });

  async function answer(line: string): Promise<string> {
    let req: ControlRequest;
    try {
      req = ControlRequest.parse(JSON.parse(line));
    } catch {
      return JSON.stringify({ id: 0, error: { message: 'malformed request: expected {"id", "method", "params"}', code: 'bad_request' } });
    }
    const handler = handlers[req.method];
    if (!handler) {
      return JSON.stringify({ id: req.id, error: { message: `unknown method '${req.method}'`, code: 'unknown_method' } });
    }
    try {
      return JSON.stringify({ id: req.id, result: (await handler(req.params)) ?? null });
    } catch (e) {
      // Named errors with a code (ControlError, ApplyError) keep it, so the CLI can act on it.
      const code = typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : 'error';
      return JSON.stringify({ id: req.id, error: { message: (e as Error).message, code } });
    }
  }

  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(file, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(file, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        fs.rmSync(file, { force: true });
      }),
  };
}
