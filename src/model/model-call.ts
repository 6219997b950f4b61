import type Anthropic from '@anthropic-ai/sdk';
import type { CapName, Origin, Purpose, ThresholdCrossing } from './ledger.js';
import type { AttemptRecord, ClassifiedError, LadderStep } from './recovery.js';

/**
 * What a model call asks for and what it comes to: the shapes of ModelClient (client.ts), which
 * callers build and read without needing the client's workings.
 */

export interface ModelCallRequest {
  model: string;
  system?: string | Anthropic.TextBlockParam[] | undefined;
  messages: Anthropic.MessageParam[];
  tools?: Anthropic.Tool[] | undefined;
  max_tokens: number;
  /**
   * When the caps leave less than max_tokens' worth, the call is sent with fewer output tokens,
   * down to this floor (see DEFAULT_MIN_TOKENS), and refused only below it. Default: max_tokens.
   */
  minTokens?: number | undefined;
  stream?: boolean | undefined;
  /** Who the call is for; picks the retry policy (src/model/recovery.ts). Default: from purpose, else 'ambient'. */
  origin?: Origin | undefined;
  /** Older callers' coarse label: 'user' (attended) or 'ambient'. */
  purpose?: Purpose | undefined;
  /** Epoch ms (client clock): no retry wait may end past it (an agent task's wall-clock limit). */
  deadline?: number | undefined;
  taskId?: string | undefined;
  trigger?: string | undefined;
  repo?: string | undefined;
  /** Step down models.act → models.triage when the budget says so (default true). */
  ladder?: boolean | undefined;
  /**
   * An upper bound of the request's input tokens the caller vouches for (src/agent/input-bound.ts):
   * the call is reserved on it with no count_tokens round trip. Near a cap (the bound would lower
   * max_tokens or be refused) or the context window, count_tokens is asked anyway: the exact number
   * is never above the bound and may let the call through whole. Without it, every call counts.
   */
  inputTokensBound?: number | undefined;
  /**
   * Called once, as soon as the first attempt's request has left (its body written to the socket;
   * src/model/request-sent.ts), or when that attempt ended without it being seen. Never called when
   * no attempt is sent (a refusal). Work that must not delay the request starts here.
   */
  onSent?: (() => void) | undefined;
}

export type ModelCallOutcome =
  | {
      status: 'ok';
      message: Anthropic.Message;
      /** The model that answered (a cheaper one if the ladder stepped down). */
      model: string;
      /** The max_tokens the answering attempt was sent with (lowered below the request's when money was short). */
      maxTokens: number;
      costMicro: number;
      reservedMicro: number;
      attempts: AttemptRecord[];
      steps: LadderStep[];
      crossings: ThresholdCrossing[];
    }
  | {
      status: 'skipped';
      /**
       * no-api-key: model steps are off. budget: no model on the ladder fits what is left (the
       * no-model outcome; tell the human with `noModelNotice`). paused: a cap is exhausted and
       * model work waits for the window to roll over or the cap to be raised.
       */
      skipped: 'no-api-key' | 'budget' | 'paused';
      reason: string;
      leftMicro?: number | undefined;
      steps: LadderStep[];
      crossings: ThresholdCrossing[];
    }
  | {
      status: 'failed';
      model: string;
      error: ClassifiedError;
      reason: string;
      attempts: AttemptRecord[];
      steps: LadderStep[];
      crossings: ThresholdCrossing[];
    };

export interface PauseState {
  cap: CapName;
  windowKey: string;
  capMicro: number;
  since: number;
  /** When the window rolls over (undefined for a task cap). */
  resumesAt?: number | undefined;
  reason: string;
}

export interface TokenCount {
  tokens: number;
  source: 'count_tokens' | 'estimate';
}

