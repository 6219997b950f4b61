import path from 'node:path';
import { z } from 'zod';
import { KairosError, type KairosErrorOptions } from '../core/errors.js';

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

export const ControlResponse = z.union([
  z.object({ id: z.number().int(), result: z.unknown() }),
  z.object({ id: z.number().int(), error: z.object({ message: z.string(), code: z.string().optional() }) }),
]);
export type ControlResponse = z.infer<typeof ControlResponse>;

/** The daemon's answer to `poke`: the ids of the manual events it stored. */
export const PokeAnswer = z.looseObject({ events: z.array(z.number()) });

export function socketPath(home: string): string {
  return path.join(home, 'kairos.sock');
}

/** A control request is refused with one of these, and the CLI prints the message. */
export class ControlError extends KairosError {
  override name = 'ControlError';
  constructor(
    message: string,
    readonly code: string = 'error',
    options?: KairosErrorOptions,
  ) {
    super(message, options);
  }
}
