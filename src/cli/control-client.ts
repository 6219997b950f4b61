import net from 'node:net';
import type { z } from 'zod';
import { ControlError, ControlResponse, refusalFromReply, socketPath } from './protocol.js';
import { DaemonStateError } from '../core/errors.js';

export class DaemonNotRunningError extends DaemonStateError {
  override name = 'DaemonNotRunningError';
  constructor(home: string) {
    super(`no Kairos daemon is running for ${home}. Start one with 'kairos start --repo DIR'.`);
  }
}

/** Sends one request to the daemon and waits for its answer. */
export function callDaemon(home: string, method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath(home));
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new ControlError(`the daemon did not answer '${method}' within ${timeoutMs} ms`, 'timeout'));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify({ id: 1, method, params }) + '\n'));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') reject(new DaemonNotRunningError(home));
      else reject(e);
    });
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        const res = ControlResponse.parse(JSON.parse(buf.slice(0, nl)));
        // The daemon's refusal as the kind of error it was there: bad input exits 2, a daemon-state refusal 3.
        if ('error' in res) reject(refusalFromReply(res.error));
        else resolve(res.result);
      } catch (e) {
        reject(new ControlError('the daemon sent a malformed answer', 'bad_response', { cause: e }));
      }
    });
  });
}

/**
 * Sends one request and checks the answer against what the caller reads (the answer crosses a process
 * boundary: a daemon of another version may answer differently). A mismatch is a ControlError naming the field.
 */
export async function askDaemon<T>(home: string, method: string, params: Record<string, unknown>, answer: z.ZodType<T>, timeoutMs?: number): Promise<T> {
  const parsed = answer.safeParse(await callDaemon(home, method, params, timeoutMs));
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ControlError(
    `the daemon's answer to '${method}' is not what this kairos reads (${issue?.path.join('.') || 'the answer'}: ${issue?.message}); is the running daemon another version? \`kairos stop\`, then start it again`,
    'bad_response',
    { cause: parsed.error },
  );
}

/** Asks a running daemon to re-read its policy and trust; with none running there is nothing to tell. */
export async function reloadDaemonIfRunning(home: string): Promise<void> {
  try {
    await callDaemon(home, 'reload');
  } catch (e) {
    if (!(e instanceof DaemonNotRunningError)) throw e;
  }
}
