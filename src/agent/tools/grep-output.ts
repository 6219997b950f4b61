/**
 * `git grep -z -n` output, read without guessing: with -z git ends the path and the line number with a
 * NUL instead of ':' and prints the path verbatim (no quoting), so a hostile repository's file named
 * `a:1:b.ts`, or one with a newline in its name, cannot pass for another path or line. A record is
 * `<path>\0<line>\0<text>\n`; the text ends at the first newline (a matched line has none), and a path
 * holds no NUL, so reading field by field is exact.
 */

export interface GrepMatch {
  /** Repository-relative, verbatim. */
  path: string;
  line: number;
  text: string;
}

/** `pathPrefix`: what git puts before each path when it searches a commit (`<commit>:`), removed. */
export function gitGrepMatches(output: string, pathPrefix = ''): GrepMatch[] {
  const matches: GrepMatch[] = [];
  let at = 0;
  while (at < output.length) {
    const afterPath = output.indexOf('\0', at);
    const afterLine = afterPath < 0 ? -1 : output.indexOf('\0', afterPath + 1);
    if (afterLine < 0) break; // a cut-off last record (git killed at its time limit): not a match
    const end = output.indexOf('\n', afterLine + 1);
    const raw = output.slice(at, afterPath);
    const line = Number(output.slice(afterPath + 1, afterLine));
    const path = pathPrefix && raw.startsWith(pathPrefix) ? raw.slice(pathPrefix.length) : raw;
    matches.push({ path, line, text: output.slice(afterLine + 1, end < 0 ? output.length : end) });
    at = end < 0 ? output.length : end + 1;
  }
  return matches;
}

/**
 * A path as the model reads it in `path:line:text`: as is, unless it holds a ':', a quote, a backslash
 * or a control character (a newline), when it is shown as a JSON string, so the line stays unambiguous.
 */
export function shownPath(path: string): string {
  // oxlint-disable-next-line no-control-regex -- control characters are exactly what is looked for
  return /[:"\\\x00-\x1f\x7f]/.test(path) ? JSON.stringify(path) : path;
}
