import type { ModelClient } from '../../model/client.js';
import type { Origin } from '../../model/ledger.js';
import type { Summariser } from './types.js';
import { KairosError } from '../../core/errors.js';

/** The summariser got no usable reply from the model client (skipped for budget, or failed after retries). */
export class SummariserCallError extends KairosError {
  override name = 'SummariserCallError';
}

export interface ModelSummariserOptions {
  /** The cheap model (the policy's models.triage). */
  model: string;
  maxTokens?: number | undefined;
  taskId?: string | undefined;
  /** Whose task the summary is for (its retry policy); default 'ambient'. */
  origin?: Origin | undefined;
  trigger?: string | undefined;
  repo?: string | undefined;
}

/**
 * Stage 4's model call through Kairos's one model client, so it is reserved and settled in the
 * spend ledger like every other call. The ladder is off: this is already the cheap model.
 */
export function modelSummariser(client: ModelClient, opts: ModelSummariserOptions): Summariser {
  return async ({ system, messages }) => {
    const r = await client.call({
      model: opts.model,
      system,
      messages,
      max_tokens: opts.maxTokens ?? 2_000,
      origin: opts.origin ?? 'ambient',
      taskId: opts.taskId,
      trigger: opts.trigger,
      repo: opts.repo,
      ladder: false,
    });
    if (r.status !== 'ok') {
      throw new SummariserCallError(`compression summary with ${opts.model} ${r.status === 'skipped' ? `skipped (${r.skipped})` : 'failed'}: ${r.reason}`);
    }
    const text = r.message.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('');
    return { text, costMicros: r.costMicro };
  };
}
