import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { estimateTextTokens, toolResultText } from './tokens.js';
import { isStub, rewriteToolResults } from './conversation.js';
import type { Message, ToolResultBlock } from './types.js';
import { errnoCode } from '../../core/errors.js';

/**
 * Stage 1. A single tool result over the budget is written to disk whole and replaced by its head
 * and tail plus the file's path, so one enormous log cannot crowd out the conversation and
 * nothing is lost: the agent can read_file the path for the rest.
 */

export interface ResultBudgetOptions {
  maxResultTokens: number;
  previewTokens: number;
  spillDir: string;
  /** How the path is shown to the model (e.g. relative to the worktree); default: the absolute path. */
  showPath?: ((absPath: string) => string) | undefined;
}

/** Content-addressed, so the same output spilled twice (or by a second run) is one file. */
export function spillFileName(text: string): string {
  return `${crypto.createHash('sha256').update(text).digest('hex').slice(0, 24)}.txt`;
}

function spill(dir: string, text: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, spillFileName(text));
  try {
    fs.writeFileSync(file, text, { flag: 'wx' });
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
  }
  return file;
}

/** Cuts at a line break near the wanted length when there is one, so the preview reads cleanly. */
function head(text: string, chars: number): string {
  const cut = text.slice(0, chars);
  const nl = cut.lastIndexOf('\n');
  return nl > chars * 0.6 ? cut.slice(0, nl) : cut;
}
function tail(text: string, chars: number): string {
  const cut = text.slice(text.length - chars);
  const nl = cut.indexOf('\n');
  return nl >= 0 && nl < chars * 0.4 ? cut.slice(nl + 1) : cut;
}

export function previewOf(text: string, previewTokens: number, shownPath: string): string {
  const half = Math.floor((previewTokens * 4) / 2);
  const h = head(text, half);
  const t = tail(text, half);
  const omitted = text.length - h.length - t.length;
  return [
    `[tool result too large for the context: ~${estimateTextTokens(text).toLocaleString('en')} tokens (${text.length.toLocaleString('en')} chars).`,
    `The full text is saved at ${shownPath} (read it with read_file). Head and tail follow.]`,
    h,
    `[… ${omitted.toLocaleString('en')} chars omitted; full text at ${shownPath} …]`,
    t,
  ].join('\n');
}

const SAVED_AT = /^\[tool result too large for the context: ~([\d,]+) tokens[^\n]*\nThe full text is saved at (.+) \(read it with read_file\)/;

/** The spill file a preview points at and the original's size, so later stubs can keep both. */
export function spillInfo(text: string): { path: string; tokens: string } | undefined {
  const m = SAVED_AT.exec(text);
  return m ? { tokens: m[1]!, path: m[2]! } : undefined;
}

export function applyResultBudget(messages: readonly Message[], opts: ResultBudgetOptions): { messages: Message[]; changed: number } {
  const show = opts.showPath ?? ((p: string) => p);
  return rewriteToolResults(messages, (block): ToolResultBlock => {
    const text = toolResultText(block);
    if (estimateTextTokens(text) <= opts.maxResultTokens || isStub(text)) return block;
    const preview = previewOf(text, opts.previewTokens, show(spill(opts.spillDir, text)));
    // Images are not text to spill; they stay beside the preview.
    const images = Array.isArray(block.content) ? block.content.filter((b) => b.type !== 'text') : [];
    return { ...block, content: images.length > 0 ? [{ type: 'text', text: preview }, ...images] : preview };
  });
}
