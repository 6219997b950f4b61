import { messageOf } from '../../core/errors.js';
/**
 * Claude Code's matcher rules, so a matcher copied from a settings file selects the same tools:
 * - absent, "" or "*" matches everything;
 * - letters, digits, "_" and "|" only: exact names, "|" separating alternatives ("Edit|Write");
 * - anything else is a JavaScript regular expression tested against the name, unanchored
 *   ("Notebook.*", "mcp__memory__.*", "^Bash$").
 * Matching is case-sensitive.
 */

/** Tests the names a subject goes by (e.g. a Kairos tool name and its Claude Code alias). */
export type Matcher = (names: readonly string[]) => boolean;

const EXACT = /^[A-Za-z0-9_|]+$/;

/** Throws (with how to fix) for a matcher that is not a valid regular expression. */
export function compileMatcher(matcher: string | undefined): Matcher {
  if (matcher === undefined || matcher === '' || matcher === '*') return () => true;
  if (EXACT.test(matcher)) {
    const names = new Set(matcher.split('|').filter((s) => s !== ''));
    return (subjects) => subjects.some((s) => names.has(s));
  }
  let re: RegExp;
  try {
    re = new RegExp(matcher);
  } catch (e) {
    throw new Error(`'${matcher}' is not a valid regular expression (${messageOf(e)}) — write a tool name, names joined by "|", or a valid regular expression`);
  }
  return (subjects) => subjects.some((s) => re.test(s));
}
