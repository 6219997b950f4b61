import { RefusedError, type KairosErrorOptions } from '../core/errors.js';
export type ApplyErrorCode =
  | 'not_found'
  | 'wrong_repo'
  | 'hash_mismatch'
  | 'already_applied'
  | 'discarded'
  | 'busy'
  | 'conflict'
  | 'unsafe_path'
  | 'write_failed'
  | 'not_applied'
  | 'changed_since';

export class ApplyError extends RefusedError {
  override name = 'ApplyError';
  constructor(
    readonly code: ApplyErrorCode,
    message: string,
    /** The files the refusal is about, when there are any. */
    readonly files: readonly string[] = [],
    options?: KairosErrorOptions,
  ) {
    super(message, options);
  }
}
