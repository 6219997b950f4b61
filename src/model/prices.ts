import fs from 'node:fs';
import { packagePath } from '../core/package-root.js';
import { z } from 'zod';
import YAML from 'yaml';
import { PriceTableError } from './errors.js';
import { messageOf, errnoCode } from '../core/errors.js';

/**
 * Model prices. Money is integer micro-dollars everywhere (1 USD = 1_000_000 µ$); a price of
 * X USD per million tokens is exactly X µ$ per token, so rates are kept as µ$ per MTok
 * (integers) and a cost is one ceiling division of integer products: never a float, and rounded
 * up, so the ledger never records less than the API can bill.
 */

export const MICRO_PER_USD = 1_000_000;

const UsdPerMTok = z.number().nonnegative().finite();

export const ModelPriceEntry = z
  .object({
    input: UsdPerMTok,
    output: UsdPerMTok,
    cache_write: UsdPerMTok,
    cache_read: UsdPerMTok,
  })
  .strict();
export type ModelPriceEntry = z.infer<typeof ModelPriceEntry>;

export const PriceFile = z
  .object({
    checked: z.union([z.string().min(1), z.date().transform((d) => d.toISOString().slice(0, 10))]),
    currency: z.literal('USD').default('USD'),
    unit: z.literal('per_mtok').default('per_mtok'),
    models: z.record(z.string().min(1), ModelPriceEntry),
  })
  .strict();
export type PriceFile = z.infer<typeof PriceFile>;

/** Integer µ$ per million tokens. */
export interface Rates {
  readonly input: number;
  readonly output: number;
  readonly cacheWrite: number;
  readonly cacheRead: number;
}

export interface PriceTable {
  readonly checked: string;
  readonly models: ReadonlyMap<string, Rates>;
  /** The most expensive known model: what an unknown model is priced as. */
  readonly fallbackModel: string;
}

export interface PriceLookup {
  readonly rates: Rates;
  readonly known: boolean;
  /** The table entry the price came from (the fallback model for an unknown id). */
  readonly pricedAs: string;
}

/** The API's usage numbers for one call. */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

function toMicroRate(usd: number, where: string): number {
  const micro = Math.round(usd * MICRO_PER_USD);
  if (Math.abs(micro - usd * MICRO_PER_USD) > 1e-3) {
    throw new PriceTableError(where, `${usd} has more than 6 decimal places; give prices to at most 1 µ$ per MTok`);
  }
  return micro;
}

function toRates(entry: ModelPriceEntry, where: string): Rates {
  return {
    input: toMicroRate(entry.input, `${where}.input`),
    output: toMicroRate(entry.output, `${where}.output`),
    cacheWrite: toMicroRate(entry.cache_write, `${where}.cache_write`),
    cacheRead: toMicroRate(entry.cache_read, `${where}.cache_read`),
  };
}

/** "Most expensive" compares the worst case a call can cost per token: output, then the dearer input rate. */
function severity(r: Rates): [number, number] {
  return [r.output, Math.max(r.input, r.cacheWrite, r.cacheRead)];
}

/** Builds a table from parsed entries; `overrides` (user-added models) win over the shipped ones. */
export function buildPriceTable(
  file: PriceFile,
  overrides: Record<string, ModelPriceEntry> = {},
  source = 'prices',
): PriceTable {
  const models = new Map<string, Rates>();
  for (const [id, entry] of Object.entries(file.models)) models.set(id, toRates(entry, `${source}: models.${id}`));
  for (const [id, entry] of Object.entries(overrides)) {
    const parsed = ModelPriceEntry.safeParse(entry);
    if (!parsed.success) {
      throw new PriceTableError(`${source} override ${id}`, `${parsed.error.issues[0]?.message ?? 'invalid'}: expected {input, output, cache_write, cache_read} in USD per MTok`);
    }
    models.set(id, toRates(parsed.data, `override ${id}`));
  }
  if (models.size === 0) throw new PriceTableError(source, 'no models: list at least one under "models:"');
  let fallbackModel = '';
  let worst: [number, number] = [-1, -1];
  for (const [id, r] of models) {
    const s = severity(r);
    if (s[0] > worst[0] || (s[0] === worst[0] && s[1] > worst[1])) {
      worst = s;
      fallbackModel = id;
    }
  }
  return { checked: file.checked, models, fallbackModel };
}

/** Parses a prices.yaml text. */
export function parsePriceFile(text: string, source: string): PriceFile {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    throw new PriceTableError(source, `not valid YAML (${messageOf(e)})`, { cause: e });
  }
  const parsed = PriceFile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PriceTableError(source, `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** Where the shipped table lives: policies/ in the package root (from source, dist/src or the bundle alike). */
export function shippedPricesPath(): string {
  const p = packagePath('policies', 'prices.yaml');
  if (fs.existsSync(p)) return p;
  throw new PriceTableError('policies/prices.yaml', 'the shipped price table is missing; reinstall Kairos');
}

/**
 * Loads the shipped table plus user additions. `overrides` is a map of model id → USD/MTok entry
 * (e.g. read from $KAIROS_HOME/prices.yaml by the caller); they may add models or change prices.
 */
export function loadPriceTable(opts: { file?: string; overrides?: Record<string, ModelPriceEntry> } = {}): PriceTable {
  const file = opts.file ?? shippedPricesPath();
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new PriceTableError(file, `cannot read (${errnoCode(e) ?? messageOf(e)})`, { cause: e });
  }
  return buildPriceTable(parsePriceFile(text, file), opts.overrides ?? {}, file);
}

/** Reads a user prices file ($KAIROS_HOME/prices.yaml) as an override map; a missing file is no overrides. */
export function readPriceOverrides(file: string): Record<string, ModelPriceEntry> {
  if (!fs.existsSync(file)) return {};
  const parsed = PriceFile.partial({ checked: true }).safeParse(YAML.parse(fs.readFileSync(file, 'utf8')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PriceTableError(file, `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data.models;
}

/** Exact id, else the id without a trailing -YYYYMMDD snapshot date, else the most expensive known model. */
export function priceFor(table: PriceTable, model: string): PriceLookup {
  const exact = table.models.get(model);
  if (exact) return { rates: exact, known: true, pricedAs: model };
  const undated = model.replace(/-\d{8}$/, '');
  const base = table.models.get(undated);
  if (base) return { rates: base, known: true, pricedAs: undated };
  return { rates: table.models.get(table.fallbackModel)!, known: false, pricedAs: table.fallbackModel };
}

function ceilDiv(n: bigint, d: bigint): bigint {
  return (n + d - 1n) / d;
}

function tokens(n: number | null | undefined, what: string): bigint {
  const v = n ?? 0;
  if (!Number.isInteger(v) || v < 0) throw new PriceTableError('usage', `${what} must be a non-negative integer, got ${n}`);
  return BigInt(v);
}

/** What a call with this usage costs, in µ$, rounded up. */
export function costMicro(rates: Rates, usage: Usage): number {
  const sum =
    tokens(usage.input_tokens, 'input_tokens') * BigInt(rates.input) +
    tokens(usage.output_tokens, 'output_tokens') * BigInt(rates.output) +
    tokens(usage.cache_creation_input_tokens, 'cache_creation_input_tokens') * BigInt(rates.cacheWrite) +
    tokens(usage.cache_read_input_tokens, 'cache_read_input_tokens') * BigInt(rates.cacheRead);
  return Number(ceilDiv(sum, 1_000_000n));
}

/**
 * The most a call can cost: every input token at the dearest input rate (a cache write costs more
 * than plain input) and all of max_tokens as output.
 */
export function worstCaseMicro(rates: Rates, inputTokens: number, maxTokens: number): number {
  const dearestInput = Math.max(rates.input, rates.cacheWrite, rates.cacheRead);
  const sum =
    tokens(inputTokens, 'inputTokens') * BigInt(dearestInput) + tokens(maxTokens, 'maxTokens') * BigInt(rates.output);
  return Number(ceilDiv(sum, 1_000_000n));
}

/**
 * The most output tokens a call with this input can ask for and still cost at most `budgetMicro`
 * at its worst case (the exact inverse of worstCaseMicro); -1 when the input alone does not fit.
 */
export function maxOutputTokensWithin(rates: Rates, inputTokens: number, budgetMicro: number): number {
  if (budgetMicro < 0) return -1;
  const dearestInput = Math.max(rates.input, rates.cacheWrite, rates.cacheRead);
  // worstCaseMicro = ceil((in·rIn + out·rOut) / 1e6) <= budget  <=>  in·rIn + out·rOut <= budget·1e6
  const room = BigInt(Math.floor(budgetMicro)) * 1_000_000n - tokens(inputTokens, 'inputTokens') * BigInt(dearestInput);
  if (room < 0n) return -1;
  if (rates.output === 0) return Number.MAX_SAFE_INTEGER;
  const out = room / BigInt(rates.output);
  return out > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(out);
}

export function microToUsd(micro: number): number {
  return micro / MICRO_PER_USD;
}

/** Caps are configured in USD; converted once, rounded down so a cap is never loosened by rounding. */
export function usdToMicro(usd: number): number {
  return Math.floor(usd * MICRO_PER_USD + 1e-6);
}

export function formatUsd(micro: number): string {
  const usd = micro / MICRO_PER_USD;
  return usd < 0.01 && micro > 0 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

/**
 * Two amounts of one message (spent of cap) at one precision, enough to show both exactly:
 * "$0.06 of $0.10", "$0.0040 of $0.0050", never "$0.00 of $0.0050" for a non-zero spend.
 */
export function formatUsdPair(micro: number, ofMicro: number): [string, string] {
  const exactAt = (digits: number): boolean => [micro, ofMicro].every((m) => Math.round(m) % 10 ** (6 - digits) === 0);
  const digits = exactAt(2) ? 2 : exactAt(4) ? 4 : 6;
  return [`$${(micro / MICRO_PER_USD).toFixed(digits)}`, `$${(ofMicro / MICRO_PER_USD).toFixed(digits)}`];
}
