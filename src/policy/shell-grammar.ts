import { createRequire } from 'node:module';
import { Language, Parser, type Node, type Tree } from 'web-tree-sitter';
import { messageOf } from '../core/errors.js';

/**
 * The bash grammar (tree-sitter-bash, compiled to WebAssembly and run by web-tree-sitter), loaded
 * once per process. Loading is asynchronous, so this module awaits it at import: every module that
 * checks commands imports this one, which means the grammar is ready before any policy layer can
 * run, and analysis stays synchronous afterwards (the layers are synchronous).
 *
 * If the grammar cannot be loaded, nothing is guessed: `bashGrammar` holds the error, and every
 * command analysis reports it as a problem, which the permission layer turns into ask.
 */

export type GrammarState = { ok: true; language: Language; parser: Parser } | { ok: false; error: string };

/** Parsing stops (and the command asks) past this, so a hostile command cannot stall a policy check. */
const PARSE_BUDGET_MS = 1000;

export async function loadBashGrammar(wasmPath?: string): Promise<GrammarState> {
  try {
    await Parser.init();
    const file = wasmPath ?? createRequire(import.meta.url).resolve('tree-sitter-bash/tree-sitter-bash.wasm');
    const language = await Language.load(file);
    const parser = new Parser();
    parser.setLanguage(language);
    return { ok: true, language, parser };
  } catch (e) {
    return { ok: false, error: `the bash grammar could not be loaded (${messageOf(e) ?? String(e)})` };
  }
}

export const bashGrammar: GrammarState = await loadBashGrammar();

export type ParseOutcome = { ok: true; tree: Tree } | { ok: false; error: string };

/**
 * Parses a command with the given grammar. The caller must `tree.delete()` the result: trees live
 * in WebAssembly memory, which the JavaScript garbage collector does not see.
 */
export function parseBash(source: string, grammar: GrammarState = bashGrammar): ParseOutcome {
  if (!grammar.ok) return grammar;
  const deadline = performance.now() + PARSE_BUDGET_MS;
  let timedOut = false;
  const tree = grammar.parser.parse(source, null, {
    // Returning true cancels the parse (the typings say void; the runtime reads the value).
    progressCallback: (() => {
      if (performance.now() > deadline) timedOut = true;
      return timedOut;
    }) as () => void,
  });
  grammar.parser.reset();
  if (!tree || timedOut) {
    tree?.delete();
    return { ok: false, error: `the command took too long to parse (over ${PARSE_BUDGET_MS} ms)` };
  }
  return { ok: true, tree };
}

/** The children of a node, without the nulls the typings allow for. */
export function childrenOf(node: Node): Node[] {
  return node.children.filter((c): c is Node => c !== null);
}

export function namedChildrenOf(node: Node): Node[] {
  return node.namedChildren.filter((c): c is Node => c !== null);
}

export type { Node, Tree };
