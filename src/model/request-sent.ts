import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics_channel from 'node:diagnostics_channel';
import { isRecord } from '../core/record.js';

/**
 * Tells a caller when its HTTP request has left: its body was written to the socket. An agent task
 * waits for this before it starts its own git processes (the snapshot of the user's tree), because
 * spawning a process blocks Node's event loop until the child has exec'd (tens of milliseconds on a
 * loaded machine), and none of that may stand between a task's start and its first model request.
 *
 * Node's fetch (undici, which the SDK uses) publishes every request's creation and the end of its
 * body on documented diagnostics channels. The request is created inside the caller's async
 * context, so an AsyncLocalStorage names whose request it is; the body-sent message finds it again
 * by the request object. Where the channels never fire (another fetch), `whenSent` still calls
 * back once the call has ended, so a caller waits at worst for the answer, never forever.
 */

type Callback = () => void;

const owner = new AsyncLocalStorage<Callback>();
const pending = new WeakMap<object, Callback>();
let subscribed = false;

function requestOf(message: unknown): object | undefined {
  const r = isRecord(message) ? message.request : undefined;
  return r && typeof r === 'object' ? r : undefined;
}

function subscribe(): void {
  if (subscribed) return;
  subscribed = true;
  diagnostics_channel.subscribe('undici:request:create', (message) => {
    const cb = owner.getStore();
    const request = requestOf(message);
    if (cb && request) pending.set(request, cb);
  });
  diagnostics_channel.subscribe('undici:request:bodySent', (message) => {
    const request = requestOf(message);
    const cb = request && pending.get(request);
    if (!cb) return;
    pending.delete(request);
    cb();
  });
}

/** Runs `send`; `onSent` is called once: when the request's body has been written, or else when `send` settles. */
export async function whenSent<T>(onSent: Callback | undefined, send: () => Promise<T>): Promise<T> {
  if (!onSent) return send();
  subscribe();
  let called = false;
  const once: Callback = () => {
    if (called) return;
    called = true;
    // Never inside undici's own call stack, and a caller's throw never fails the request.
    queueMicrotask(() => {
      try {
        onSent();
      } catch {
        // the caller's own problem; the request is unaffected
      }
    });
  };
  try {
    return await owner.run(once, send);
  } finally {
    once();
  }
}
