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

/**
 * One SDK client per key, base URL and timeout for the whole process: every model client made with
 * the same settings (a task's, triage's, a bench run's) shares it, so none pays its construction
 * again on its first request. The client holds no per-call state (retries are off; every call
 * passes its own parameters), so sharing it changes nothing a call sees.
 */
const clients = new Map<string, Promise<Anthropic>>();

/** The shared client for these settings, created on first use; concurrent first calls share it. */
export function lazyAnthropic(o: SdkOptions): () => Promise<Anthropic> {
  const key = JSON.stringify([o.apiKey, o.baseURL ?? null, o.timeoutMs]);
  return () => {
    let client = clients.get(key);
    if (!client) {
      client = import('@anthropic-ai/sdk').then(
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
      );
      // A failed import is not remembered: the next call tries again.
      client.catch(() => clients.delete(key));
      clients.set(key, client);
    }
    return client;
  };
}
