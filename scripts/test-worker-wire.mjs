// The frames a test worker (scripts/test-worker.mjs) sends its parent (scripts/run-tests.mjs): one per
// finished file, { file, events, wallMs, cpuMs, childCpuMs, changed }, where events are node:test's
// reporter events for that file. A frame is a 4-byte length and a v8-serialized value; errors in the
// events are turned into plain records and back, keeping what the spec reporter prints (the stack,
// the message, an assertion's actual, expected and operator, the cause).
import { deserialize, serialize } from 'node:v8';
import { inspect } from 'node:util';

// Where the worker's reporter finds the worker (both run in the worker's process).
export const WORKER_HOOK = Symbol.for('kairos.testWorker');

const ERROR_TAG = '__kairosError';

// node:test's event data is often made with { __proto__: null }.
const isPlainObject = (value) => value !== null && typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value));

function toWire(value, depth = 0) {
  if (depth > 20) return inspect(value);
  if (value instanceof Error) {
    const record = { [ERROR_TAG]: true, name: value.name, message: value.message, stack: value.stack };
    // code, failureType and cause are not always enumerable (node's own errors), and the spec reporter reads them.
    for (const key of new Set([...Object.keys(value), 'code', 'failureType', 'cause'])) {
      if (key in value) record[key] = toWire(value[key], depth + 1);
    }
    return record;
  }
  if (typeof value === 'function' || typeof value === 'symbol') return inspect(value);
  if (Array.isArray(value)) return value.map((v) => toWire(v, depth + 1));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v, depth + 1)]));
  }
  try {
    serialize(value); // Map, Set, Date, RegExp, Buffer, BigInt… go as they are
    return value;
  } catch {
    return inspect(value); // a class instance v8 cannot clone: its printed form
  }
}

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (!value || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  if (value[ERROR_TAG]) {
    const { [ERROR_TAG]: _tag, name, message, stack, ...rest } = value;
    const error = new Error(message);
    Object.defineProperty(error, 'name', { value: name, enumerable: false, configurable: true, writable: true });
    error.stack = stack;
    for (const [k, v] of Object.entries(rest)) error[k] = fromWire(v);
    return error;
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v)]));
}

export function encodeFrame(value) {
  const body = serialize(toWire(value));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

// Feeds chunks of the worker's stream in; calls onFrame for each whole frame.
export function frameReader(onFrame) {
  let pending = Buffer.alloc(0);
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const size = pending.readUInt32BE(0);
      if (pending.length < 4 + size) break;
      onFrame(fromWire(deserialize(pending.subarray(4, 4 + size))));
      pending = pending.subarray(4 + size);
    }
  };
}
