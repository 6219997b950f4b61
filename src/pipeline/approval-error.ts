import { RefusedError } from '../core/errors.js';
export type ApprovalErrorCode =
  | 'not_found'
  | 'ambiguous'
  | 'expired'
  | 'already_decided'
  | 'busy'
  | 'hash_mismatch'
  | 'bad_token'
  | 'bad_request'
  | 'apply_failed'
  | 'duplicate';

/** A refusal of the approval queue, with a code the control socket passes on and a message that says what to do. */
export class ApprovalError extends RefusedError {
  override name = 'ApprovalError';
  constructor(
    readonly code: ApprovalErrorCode,
    message: string,
  ) {
    super(message);
  }
}
