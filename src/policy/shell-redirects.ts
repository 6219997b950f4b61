import { childrenOf, namedChildrenOf, type Node } from './shell-grammar.js';
import type { SimpleCommand } from './shell.js';
import { clip, WORD_TYPES, type Word } from './shell-words.js';

/**
 * Redirections of a command: files it writes or reads (checked against the path rules), what
 * feeds its standard input (a here-document or here-string, which a shell then runs as a
 * script), and the commands hidden in them (substitutions in targets, in unquoted here-document
 * bodies, and the pipeline the grammar files under a here-document: `cat <<EOF | sh`).
 */

/** The walker's operations this module uses. */
export interface Walker {
  /** Evaluates words, walking the commands in their substitutions. */
  words(nodes: Node[]): Word[];
  /** Walks a statement. */
  walk(node: Node): void;
  /** Records a problem with the command line as a whole. */
  problem(text: string): void;
}

export interface StdinSource {
  kind: 'heredoc' | 'herestring';
  /** The text the program reads, when it is known now. */
  body?: string;
}

/** Reads redirections into the part; returns what feeds its standard input, if a here-document or here-string. */
export function readRedirects(nodes: Node[], part: SimpleCommand, w: Walker): StdinSource | undefined {
  let stdin: StdinSource | undefined;
  for (const r of nodes) {
    if (r.type === 'file_redirect') fileRedirect(r, part, w);
    else if (r.type === 'herestring_redirect') {
      const value = namedChildrenOf(r).find((c) => WORD_TYPES.has(c.type));
      const word = value ? w.words([value])[0] : undefined;
      stdin = { kind: 'herestring', ...(word?.literal ? { body: word.shown.join(' ') } : {}) };
    } else if (r.type === 'heredoc_redirect') stdin = heredoc(r, part, w);
    else if (r.type !== 'comment') w.problem(`'${clip(r.text)}' is a redirection (${r.type}) that cannot be checked`);
  }
  return stdin;
}

const DUPLICATE = /^(?:\d+|-)$/;

function fileRedirect(r: Node, part: SimpleCommand, walker: Walker): void {
  const op = childrenOf(r).find((c) => !c.isNamed)?.text ?? '>';
  const dest = r.childrenForFieldName('destination').filter((c): c is Node => c !== null);
  if ((op === '>&' || op === '<&') && dest.length === 1 && DUPLICATE.test(dest[0]!.text)) return; // `2>&1`, `>&-`: no file
  const w = walker.words(dest);
  if (dest.length === 1 && dest[0]!.type === 'process_substitution') return; // `> >(cmd)`: walked as a command
  const shown = w.flatMap((x) => x.shown);
  const target = shown.join(' ');
  if (w.some((x) => !x.literal || x.glob) || shown.length !== 1) part.problems.push(`the redirection target '${target}' is only known at run time`);
  part.redirects.push({ op, target, write: op !== '<' && op !== '<&', read: op === '<' || op === '<>' || op === '<&' });
}

function heredoc(r: Node, part: SimpleCommand, w: Walker): StdinSource {
  const start = namedChildrenOf(r).find((c) => c.type === 'heredoc_start')?.text ?? '';
  const quoted = /['"\\]/.test(start);
  const body = namedChildrenOf(r).find((c) => c.type === 'heredoc_body');
  let known = true;
  if (body && !quoted) {
    // an unquoted delimiter: the body is expanded, so its substitutions run. What the parser did
    // not read as an expansion is plain text, and must not hold one (tree-sitter-bash does not
    // read backticks in here-documents, bash runs them).
    let plain = body.text;
    for (const c of namedChildrenOf(body)) {
      if (c.type === 'heredoc_content') continue;
      known = false;
      w.words([c]);
      plain = plain.replace(c.text, ' ');
    }
    if (/`|\$\(|\$\[/.test(plain)) w.problem(`the here-document has a substitution the parser did not read: '${clip(plain)}'`);
  }
  for (const c of namedChildrenOf(r)) {
    if (c.type === 'file_redirect') fileRedirect(c, part, w);
    else if (!['heredoc_start', 'heredoc_body', 'heredoc_end', 'file_descriptor'].includes(c.type)) w.walk(c); // `cat <<EOF | sh`, `<<EOF && x`
  }
  const dash = childrenOf(r).some((c) => c.type === '<<-');
  const text = body ? (dash ? body.text.replace(/^\t+/gm, '') : body.text) : '';
  return { kind: 'heredoc', ...(known ? { body: text } : {}) };
}

