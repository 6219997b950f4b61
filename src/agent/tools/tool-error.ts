import { KairosError } from '../../core/errors.js';
/** A tool call that cannot be done: goes back to the model as an error result, never crashes the loop. */
export class ToolError extends KairosError {
  override name = 'ToolError';
}
