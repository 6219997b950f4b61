/**
 * Kairos's error hierarchy. Every error Kairos throws on purpose is a KairosError: its message is
 * meant for a person (the CLI prints it without a stack), its `exitCode` is what the CLI and the
 * daemon exit with, and an error that wraps another passes it as the standard `cause`.
 *
 * The kinds are what a caller needs to tell apart, no more:
 *   UserInputError    2  bad CLI arguments, config, policy or input file: fix the input and retry
 *   DaemonStateError  3  the daemon is not in the state the command needs (not running; another holds the lock)
 *   StoreError        1  the store cannot be used as asked (damaged, full, a row in the wrong state)
 *   RefusedError      1  Kairos refused on purpose (a policy, a hash that does not match, an unsafe diff)
 *   UnavailableError  1  this machine lacks something (a display, D-Bus, a service manager, a watcher backend)
 *   InternalError     1  a broken invariant: a bug, so the CLI keeps the stack
 * and KairosError itself (1) for the rest (a git command failed, a model call failed, ...).
 *
 * This module is at the bottom of the layer map (docs/ARCHITECTURE.md): every layer may import it,
 * it imports nothing of Kairos.
 */

import { inspect } from 'node:util';

/** The exit codes of `kairos` and of the daemon (`kairos run`). README and docs/ARCHITECTURE.md list them too. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  userInput: 2,
  daemonState: 3,
} as const;

export interface KairosErrorOptions {
  /** The error this one wraps (kept for KAIROS_DEBUG and the logs; the message already says what failed). */
  cause?: unknown;
  /** One line telling the user how to fix it, printed after the message when the message does not say it already. */
  hint?: string;
}

export class KairosError extends Error {
  override name = 'KairosError';
  /** What the process exits with when this error ends it. */
  readonly exitCode: number = ExitCode.failure;
  /** True for a bug: the CLI then prints the stack, because the message alone will not help anyone fix it. */
  readonly bug: boolean = false;
  readonly hint: string | undefined;

  constructor(message: string, options: KairosErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
  }
}

export class UserInputError extends KairosError {
  override name = 'UserInputError';
  override readonly exitCode: number = ExitCode.userInput;
}

export class DaemonStateError extends KairosError {
  override name = 'DaemonStateError';
  override readonly exitCode: number = ExitCode.daemonState;
}

export class StoreError extends KairosError {
  override name = 'StoreError';
}

export class RefusedError extends KairosError {
  override name = 'RefusedError';
}

export class UnavailableError extends KairosError {
  override name = 'UnavailableError';
}

export class InternalError extends KairosError {
  override name = 'InternalError';
  override readonly bug: boolean = true;
}

/** The exit code for anything thrown: a KairosError's own, 1 for the rest (a bug, a system error). */
export function exitCodeOf(e: unknown): number {
  return e instanceof KairosError ? e.exitCode : ExitCode.failure;
}

/**
 * What to print for an error that ends a command: a KairosError (and a system error such as EACCES,
 * whose message names the syscall and the path) is one line for a person, plus its hint; JavaScript's own
 * error types and InternalError mean a bug and keep the stack. `debug` (KAIROS_DEBUG) keeps every stack.
 */
export function describeForUser(e: unknown, debug = false): string {
  if (!(e instanceof Error)) return String(e);
  const bug = e instanceof KairosError ? e.bug : JS_BUG_NAMES.has(e.name);
  if (bug || debug) return withCauses(e);
  const hint = e instanceof KairosError && e.hint && !e.message.includes(e.hint) ? `\n${e.hint}` : '';
  return e.message + hint;
}

const JS_BUG_NAMES = new Set(['TypeError', 'ReferenceError', 'RangeError', 'SyntaxError', 'EvalError', 'URIError', 'AssertionError']);

/** The stack, then each cause's, so the original failure is not lost behind its wrapper. */
function withCauses(e: Error): string {
  const parts = [e.stack ?? String(e)];
  for (let c: unknown = e.cause, depth = 0; c !== undefined && depth < 5; c = c instanceof Error ? c.cause : undefined, depth++) {
    parts.push(`caused by: ${c instanceof Error ? (c.stack ?? c.message) : inspect(c)}`);
  }
  return parts.join('\n');
}

/** Node's system errors carry a string `code` such as 'ENOENT' or 'EACCES'. */
export function errnoCode(e: unknown): string | undefined {
  if (!(e instanceof Error) || !('code' in e)) return undefined;
  return typeof e.code === 'string' ? e.code : undefined;
}

/** True when `e` is a system error with one of these codes: the one place Kairos checks errno codes. */
export function isErrno(e: unknown, ...codes: readonly string[]): e is NodeJS.ErrnoException {
  const code = errnoCode(e);
  return code !== undefined && codes.includes(code);
}

/** A file that is simply not there (or a path through a non-folder): the cases a reader may treat as "absent". */
export function isAbsent(e: unknown): e is NodeJS.ErrnoException {
  return isErrno(e, 'ENOENT', 'ENOTDIR');
}

/** The message of anything thrown: an Error's own message, anything else as text (no cast that could lie). */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Anything thrown, as an Error for a handler that takes one: an Error as it is, anything else wrapped (kept as the cause). */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e), { cause: e });
}
