/**
 * Showing a proposal's diff to the human who approves it. What they read must be what will be
 * applied, so nothing in the diff may hide or rewrite other text on their terminal: control
 * characters (ESC, CR, backspace, ...) and bidirectional-override characters are made visible
 * (`^[`, `^M`, `<U+202E>`), never passed through and never silently dropped. The exact bytes are
 * available with `kairos show ID --raw` (sha256sum of that output is the approval's hash).
 */

const RESET = '\u001b[0m';
const BOLD = '\u001b[1m';
const RED = '\u001b[31m';
const GREEN = '\u001b[32m';
const CYAN = '\u001b[36m';
const DIM = '\u001b[2m';

/** Colour when the stream is a terminal, unless NO_COLOR is set; FORCE_COLOR (not '0') forces it. */
export function useColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

// C0 controls except tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates.
// oxlint-disable-next-line no-control-regex -- control characters are what this matches
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Makes every character that could act on a terminal visible as text. */
export function visibleControls(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.codePointAt(0)!;
    if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
    if (code === 0x7f) return '^?';
    return `<U+${code.toString(16).toUpperCase().padStart(4, '0')}>`;
  });
}

/**
 * The diff as text for a person: controls made visible, and with `colour`, file headers bold,
 * hunk headers cyan, removed lines red, added lines green. Header lines are told from content lines
 * by position (a content line may itself start with '+++'), not by prefix alone.
 */
export function renderDiff(diff: string, o: { colour: boolean }): string {
  const lines = visibleControls(diff).split('\n');
  const trailingNewline = lines.length > 0 && lines[lines.length - 1] === '';
  if (trailingNewline) lines.pop();
  let inHeader = false;
  const out = lines.map((line) => {
    if (line.startsWith('diff --git ')) {
      inHeader = true;
      return paint(line, BOLD, o.colour);
    }
    if (line.startsWith('@@')) {
      inHeader = false;
      return paint(line, CYAN, o.colour);
    }
    if (inHeader) return paint(line, line.startsWith('---') || line.startsWith('+++') ? BOLD : DIM, o.colour);
    if (line.startsWith('+')) return paint(line, GREEN, o.colour);
    if (line.startsWith('-')) return paint(line, RED, o.colour);
    if (line.startsWith('\\')) return paint(line, DIM, o.colour);
    return line;
  });
  return out.join('\n') + (trailingNewline ? '\n' : '');
}

function paint(line: string, code: string, colour: boolean): string {
  return colour ? `${code}${line}${RESET}` : line;
}
