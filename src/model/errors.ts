/** Named errors of the model layer; each message says what went wrong, where, and how to fix it. */

export class PriceTableError extends Error {
  override readonly name = 'PriceTableError';
  constructor(
    readonly source: string,
    detail: string,
  ) {
    super(`PriceTableError: ${source}: ${detail}`);
  }
}

export class LedgerError extends Error {
  override readonly name = 'LedgerError';
  constructor(detail: string) {
    super(`LedgerError: ${detail}`);
  }
}
