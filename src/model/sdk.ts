import type Anthropic from '@anthropic-ai/sdk';

/**
 * The Anthropic SDK is loaded on the first model call, not at start: it costs ~22 MB of memory and
 * ~0.3 s to load, which a daemon without a key, or one that stays quiet all day, should never pay.
 * (Its error classes come from the small `@anthropic-ai/sdk/core/error` module, which is the same
 * module the SDK re-exports, so `instanceof` holds.)
 */

export interface SdkOptions {
  apiKey: string;
  baseURL?: string | undefined;
  timeoutMs: number;
}

/** One client, created on first use; concurrent first calls share it. */
export function lazyAnthropic(o: SdkOptions): () => Promise<Anthropic> {
  let client: Promise<Anthropic> | undefined;
  return () =>
    (client ??= import('@anthropic-ai/sdk').then(
      (m) =>
        new m.default({
          apiKey: o.apiKey,
          ...(o.baseURL ? { baseURL: o.baseURL } : {}),
          // Every retry must go through the ledger, so the SDK never retries on its own.
          maxRetries: 0,
          timeout: o.timeoutMs,
          // Failures reach the caller as classified values with their reason; the SDK's console
          // logging would only duplicate them into the daemon's stderr.
          logLevel: 'off',
        }),
    ));
}
