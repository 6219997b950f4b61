import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { redactText } from '../policy/filter.js';
import { memoizedRedaction } from '../policy/redact/redact-memo.js';
import { RotatingLogFile, type RotationOptions } from './log-file.js';

export type Logger = pino.Logger;
export type LogLevel = pino.LevelWithSilent;

/**
 * The slice of a logger the report stage needs. A pino Logger satisfies it; tests can pass a recorder.
 * Kept structural so modules that only log need not depend on pino.
 */
export interface LogSink {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface LoggerOptions {
  /** A LogLevel name; typed string because it comes from the environment (pino refuses an unknown one). */
  level?: string;
  /** Also write every line to stderr (foreground runs). */
  alsoStderr?: boolean;
  /**
   * Applied to every string that goes into a log line (the message and string values in the merge object).
   * Default: the policy output filter's redactText, so secrets never reach the log file whoever
   * creates the logger; pass `false` only where the text is known to hold none.
   */
  redact?: ((text: string) => string) | false;
  /** Overrides `$KAIROS_HOME/logs/kairos.log`. */
  file?: string;
  /** Size-based rotation of the file (default: at 10 MiB, keeping 5). */
  rotate?: RotationOptions;
}

/** The daemon's JSON log file inside a Kairos home. */
export function logFilePath(home: string): string {
  return path.join(home, 'logs', 'kairos.log');
}

/**
 * A pino logger writing JSON lines to `$KAIROS_HOME/logs/kairos.log`.
 *
 * Writes are synchronous. The daemon logs lifecycle and per-task lines, not per-event lines
 * (events live in SQLite), so the cost is a few microseconds per line, and in exchange a SIGTERM — or a
 * SIGKILL, which no exit hook can flush — never loses a line that was logged before it. The file
 * rotates by size, and a full disk never makes a log call throw (see RotatingLogFile).
 */
export function createLogger(home: string, options: LoggerOptions = {}): Logger {
  const file = options.file ?? logFilePath(home);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const level = options.level ?? 'info';
  const fileStream = new RotatingLogFile(file, options.rotate);
  // The logger's own level decides what is written; each stream takes every line it is given ('trace',
  // the lowest), rather than repeating the level (a multistream without one would drop debug lines).
  const stream = options.alsoStderr
    ? pino.multistream([
        { stream: fileStream, level: 'trace' },
        { stream: pino.destination({ fd: 2, sync: true }), level: 'trace' },
      ])
    : fileStream;
  // The shipped redaction is remembered per text (every line repeats the repository path, the trigger, the message).
  const redact = options.redact === false ? undefined : (options.redact ?? memoizedRedaction(redactText));
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: redact
        ? {
            logMethod(args, method) {
              // pino's hook contract: call the method with a new argument list. A redacted Error is a
              // plain object, so the list is no longer the caller's types: applied as the values it holds.
              const cleaned: unknown[] = args.map((a: unknown) => redactValue(a, redact, 0));
              Reflect.apply(method, this, cleaned);
            },
          }
        : {},
    },
    stream,
  );
}

const MAX_DEPTH = 5;

/** Redacts strings inside plain values; errors become plain objects so their message and stack are redacted too. */
function redactValue(value: unknown, redact: (s: string) => string, depth: number): unknown {
  if (typeof value === 'string') return redact(value);
  if (depth >= MAX_DEPTH || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    return {
      type: value.name,
      message: redact(value.message),
      ...(value.stack ? { stack: redact(value.stack) } : {}),
    };
  }
  if (Array.isArray(value)) return value.map((v) => redactValue(v, redact, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, redact, depth + 1);
  return out;
}
