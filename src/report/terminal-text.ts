// Escape sequences in command output can rewrite a terminal's title, move the cursor or hide text when a
// user later `cat`s a log; in a notification they show up as garbage. Strip them before text leaves.
// CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), DCS/SOS/PM/APC strings, 2-byte ESC sequences,
// 8-bit C1 CSI/OSC, and the remaining C0/C1 control characters except tab and newline.
const ESCAPES = new RegExp(
  [
    '\\u001b\\[[0-?]*[ -/]*[@-~]',
    '\\u009b[0-?]*[ -/]*[@-~]',
    '\\u001b\\][^\\u0007\\u001b]*(?:\\u0007|\\u001b\\\\)?',
    '\\u009d[^\\u0007\\u001b]*(?:\\u0007|\\u001b\\\\)?',
    '\\u001b[PX^_][^\\u001b]*(?:\\u001b\\\\)?',
    '\\u001b[ -/]*[0-~]?',
    '[\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]',
  ].join('|'),
  'g',
);

/** Removes terminal escape sequences and control characters, keeping text, tabs and newlines. */
export function stripTerminalEscapes(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(ESCAPES, '');
}

/** Cuts text to at most `max` characters (code points, so emoji are not split), ending with an ellipsis when cut. */
export function truncateText(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  return chars.slice(0, Math.max(0, max - 1)).join('').trimEnd() + '…';
}
