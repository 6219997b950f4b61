import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ControlRequest, socketPath } from '../src/cli/protocol.js';
import { enforceOwnerOnly, OwnerOnlyError } from './approval-handlers.js';
import { errnoCode, messageOf } from '../src/core/errors.js';

/** Returns the reply, or a promise of it (the server awaits either). */
export type ControlHandler = (params: Record<string, unknown>) => unknown;

export interface ControlServer {
  close(): Promise<void>;
}

const MAX_LINE = 1_000_000;

export interface ControlServerOptions {
  /** Called with the socket's path the moment it is bound, before it is moved into place (tests look at its mode there). */
  onBound?: (file: string) => void;
}

/**
 * Serves the control protocol on $KAIROS_HOME/kairos.sock, owner-only from its first moment:
 * 1. $KAIROS_HOME must be ours and is made 0700 before anything is bound;
 * 2. the socket is bound inside a fresh 0700 folder (mkdtemp), under a 0177 umask, so it is born
 *    0600 where nobody else can even reach its path;
 * 3. its mode and owner are checked, then it is renamed into place (same folder, atomic).
 * There is no moment at which another user could connect, whatever umask the daemon started with.
 */
export async function startControlServer(home: string, handlers: Record<string, ControlHandler>, opts: ControlServerOptions = {}): Promise<ControlServer> {
  const file = socketPath(home);
  enforceOwnerOnly(home);
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
      // A parse attempt: the client gets bad_request, which says what was expected.
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
      const code = errnoCode(e) ?? 'error';
      return JSON.stringify({ id: req.id, error: { message: messageOf(e), code } });
    }
  }

  // Short names: a Unix socket path is limited to ~107 bytes, and this one is only 2 longer than the final one.
  const privateDir = fs.mkdtempSync(path.join(home, '.ctl-'));
  const bound = path.join(privateDir, 's');
  try {
    fs.chmodSync(privateDir, 0o700);
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(bound, () => resolve());
      });
    } finally {
      process.umask(oldMask);
    }
    opts.onBound?.(bound);
    fs.chmodSync(bound, 0o600);
    const st = fs.lstatSync(bound);
    const uid = process.getuid?.();
    if (!st.isSocket() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
      server.close();
      throw new OwnerOnlyError(`the control socket ${bound} is not a private socket of this user (mode ${(st.mode & 0o777).toString(8)}, uid ${st.uid}); not serving`);
    }
    fs.renameSync(bound, file);
  } finally {
    fs.rmSync(privateDir, { recursive: true, force: true });
  }
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        fs.rmSync(file, { force: true });
      }),
  };
}
