/**
 * The one check for "a JSON object whose keys can be read": parsed input (TOML, JSON from a file, a
 * hook's answer, a model's tool input) narrowed by looking at it rather than cast. Like errors.ts it
 * is under every layer and imports nothing of Kairos.
 */

/** True for a plain object (not null, not an array): its fields are `unknown` until each is checked. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A copy of `o` without its undefined-valued keys, so merged settings compare and print as written.
 * Same type: with exactOptionalPropertyTypes off, an absent key and an undefined one type alike.
 */
export function definedOnly<T extends object>(o: T): T {
  const out = { ...o };
  for (const k in out) if (out[k] === undefined) delete out[k];
  return out;
}
