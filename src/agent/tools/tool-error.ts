/** A tool call that cannot be done: goes back to the model as an error result, never crashes the loop. */
export class ToolError extends Error {
  override name = 'ToolError';
}
