/**
 * A redaction remembered per text. Every secret rule runs over each string redacted (~40 µs for a
 * short one), and the daemon redacts the same strings again and again: a task start writes an audit
 * row per layer with the same description and reasons, and every log line carries the repository
 * path and trigger name. Redaction depends only on the text (the rules and known secrets are fixed
 * for the function given, and the memory is dropped whenever a secret is registered), so remembering the last few hundred distinct texts is exact. Long texts
 * (a command's output) are not kept: they rarely repeat and would hold memory.
 */
import { knownSecretsGeneration } from './redact.js';

const MAX_ENTRIES = 256;
const MAX_KEPT_LENGTH = 2048;

export function memoizedRedaction(redact: (text: string) => string): (text: string) => string {
  const seen = new Map<string, string>();
  let generation = knownSecretsGeneration();
  return (text) => {
    if (text.length > MAX_KEPT_LENGTH) return redact(text);
    if (generation !== knownSecretsGeneration()) {
      seen.clear();
      generation = knownSecretsGeneration();
    }
    let out = seen.get(text);
    if (out === undefined) {
      out = redact(text);
      // Cleared rather than evicted one by one: a steady daemon uses far fewer distinct texts than this.
      if (seen.size >= MAX_ENTRIES) seen.clear();
      seen.set(text, out);
    }
    return out;
  };
}
