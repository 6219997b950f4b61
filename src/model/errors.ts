import { InternalError, UserInputError, type KairosErrorOptions } from '../core/errors.js';
/** Named errors of the model layer; each message says what went wrong, where, and how to fix it. */

export class PriceTableError extends UserInputError {
  override readonly name = 'PriceTableError';
  constructor(
    readonly source: string,
    detail: string,
    options?: KairosErrorOptions,
  ) {
    super(`PriceTableError: ${source}: ${detail}`, options);
  }
}

export class LedgerError extends InternalError {
  override readonly name = 'LedgerError';
  constructor(detail: string) {
    super(`LedgerError: ${detail}`);
  }
}
