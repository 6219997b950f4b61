// The escape stripping is the output filter's (policy layer 8); reports use that one definition.
export { stripTerminalEscapes } from '../policy/filter.js';

/** Cuts text to at most `max` characters (code points, so emoji are not split), ending with an ellipsis when cut. */
export function truncateText(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  return chars.slice(0, Math.max(0, max - 1)).join('').trimEnd() + '…';
}
