import path from 'node:path';
import { z } from 'zod';
import {
  DaemonStateError,
  exitCodeOf,
  ExitCode,
  InternalError,
  KairosError,
  messageOf,
  RefusedError,
  StoreError,
  UnavailableError,
  UserInputError,
  type KairosErrorOptions,
} from '../core/errors.js';

/**
 * The control protocol between `kairos` (and the tray, and MCP) and the daemon: one JSON object per line
 * over the Unix socket $KAIROS_HOME/kairos.sock. A request names a method; the answer carries the same id.
 */
export const ControlRequest = z.object({
  id: z.number().int(),
  method: z.string().min(1),
  params: z.record(z.string(), z.unknown()).default({}),
});
export type ControlRequest = z.infer<typeof ControlRequest>;

/**
 * The kinds of KairosError (src/core/errors.ts) a refusal travels as, so the CLI exits as it would had it
 * refused itself: 2 for bad input, 3 for a daemon not in the state the command needs, 1 for the rest.
 */
export const ERROR_KINDS = ['user_input', 'daemon_state', 'store', 'refused', 'unavailable', 'internal', 'failure'] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/**
 * An error reply. `code` says which refusal (for the tray, MCP and scripts); `kind`, `exitCode` and `hint`
 * rebuild the error in the CLI. Another process's data: a kind this CLI does not know (a newer daemon) is
 * read as none, and `exitCode` (0–255) then decides.
 */
export const ControlErrorReply = z.object({
  message: z.string(),
  code: z.string().optional(),
  kind: z.enum(ERROR_KINDS).optional().catch(undefined),
  exitCode: z.number().int().min(0).max(255).optional().catch(undefined),
  hint: z.string().optional().catch(undefined),
});
export type ControlErrorReply = z.infer<typeof ControlErrorReply>;

export const ControlResponse = z.union([
  z.object({ id: z.number().int(), result: z.unknown() }),
  z.object({ id: z.number().int(), error: ControlErrorReply }),
]);
export type ControlResponse = z.infer<typeof ControlResponse>;

/** The daemon's answer to `poke`: the ids of the manual events it stored. */
export const PokeAnswer = z.looseObject({ events: z.array(z.number()) });

export function socketPath(home: string): string {
  return path.join(home, 'kairos.sock');
}

const EXIT_OF_KIND: Record<ErrorKind, number> = { user_input: ExitCode.userInput, daemon_state: ExitCode.daemonState, store: 1, refused: 1, unavailable: 1, internal: 1, failure: 1 };

/**
 * A control request is refused with one of these, and the CLI prints the message. Its kind decides the
 * exit code; without one, a 'bad_params' refusal is bad input (2) and anything else a failure (1).
 */
export class ControlError extends KairosError {
  override name = 'ControlError';
  readonly kind: ErrorKind;
  override readonly exitCode: number;
  override readonly bug: boolean;
  constructor(
    message: string,
    readonly code: string = 'error',
    options: KairosErrorOptions & { kind?: ErrorKind } = {},
  ) {
    super(message, options);
    this.kind = options.kind ?? (code === 'bad_params' ? 'user_input' : 'failure');
    this.exitCode = EXIT_OF_KIND[this.kind];
    this.bug = this.kind === 'internal';
  }
}

/** The kind of anything thrown, as the error reply carries it. */
export function errorKindOf(e: unknown): ErrorKind {
  if (e instanceof ControlError) return e.kind;
  if (e instanceof UserInputError) return 'user_input';
  if (e instanceof DaemonStateError) return 'daemon_state';
  if (e instanceof StoreError) return 'store';
  if (e instanceof RefusedError) return 'refused';
  if (e instanceof UnavailableError) return 'unavailable';
  if (e instanceof InternalError) return 'internal';
  return 'failure';
}

/** The daemon's answer to a request its handler threw on: named errors with a code (ControlError, ApplyError) keep it. */
export function errorReply(e: unknown): ControlErrorReply {
  const code = e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : 'error';
  const hint = e instanceof KairosError ? e.hint : undefined;
  return { message: messageOf(e), code, kind: errorKindOf(e), exitCode: exitCodeOf(e), ...(hint ? { hint } : {}) };
}

/** A refusal as the daemon sent it, rebuilt in the CLI: the KairosError subclass of its kind, with the daemon's code. */
export type DaemonRefusal = KairosError & { readonly code: string };

const CLASS_OF_KIND: Record<ErrorKind, new (message: string, options?: KairosErrorOptions) => KairosError> = {
  user_input: UserInputError,
  daemon_state: DaemonStateError,
  store: StoreError,
  refused: RefusedError,
  unavailable: UnavailableError,
  internal: InternalError,
  failure: KairosError,
};

export function refusalFromReply(reply: ControlErrorReply): DaemonRefusal {
  const code = reply.code ?? 'error';
  // An older daemon sends no kind: its exit code, else the code, decide (a kind this CLI does not know reads the same way).
  const kind = reply.kind ?? (reply.exitCode === ExitCode.userInput ? 'user_input' : reply.exitCode === ExitCode.daemonState ? 'daemon_state' : code === 'bad_params' ? 'user_input' : 'failure');
  return Object.assign(new CLASS_OF_KIND[kind](reply.message, reply.hint === undefined ? {} : { hint: reply.hint }), { code });
}

/** A refusal with a code: a ControlError, or a daemon's refusal rebuilt by refusalFromReply. */
export function isCodedRefusal(e: unknown): e is DaemonRefusal {
  return e instanceof KairosError && 'code' in e && typeof e.code === 'string';
}
