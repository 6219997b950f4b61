import type { Language, Node, Parser, Tree } from 'web-tree-sitter';
import { messageOf } from '../core/errors.js';
import { packageRequire } from '../core/package-root.js';

/**
 * The bash grammar (tree-sitter-bash, compiled to WebAssembly and run by web-tree-sitter), loaded
 * once per process, on first use: it costs ~13 MB and a WebAssembly compile, and a daemon that only
 * watches never checks a command. Loading is asynchronous and the policy layers are synchronous, so
 * every path that checks commands (an agent task, its hooks, `kairos policy explain`, `doctor`)
 * awaits `ensureBashGrammar()` first; analysis stays synchronous afterwards.
 *
 * If the grammar cannot be loaded, nothing is guessed: `bashGrammar()` holds the error, and every
 * command analysis reports it as a problem, which the permission layer turns into ask. A check that
 * runs before anything awaited the grammar fails closed the same way, naming that as the reason.
 */

export type GrammarState = { ok: true; language: Language; parser: Parser } | { ok: false; error: string };

/** Parsing stops (and the command asks) past this, so a hostile command cannot stall a policy check. */
const PARSE_BUDGET_MS = 1000;

export async function loadBashGrammar(wasmPath?: string): Promise<GrammarState> {
  try {
    const { Language, Parser } = await import('web-tree-sitter');
    await Parser.init();
    const file = wasmPath ?? packageRequire().resolve('tree-sitter-bash/tree-sitter-bash.wasm');
    const language = await Language.load(file);
    const parser = new Parser();
    parser.setLanguage(language);
    return { ok: true, language, parser };
  } catch (e) {
    return { ok: false, error: `the bash grammar could not be loaded (${messageOf(e) ?? String(e)})` };
  }
}

const NOT_LOADED: GrammarState = { ok: false, error: 'the bash grammar was not loaded before this check (a bug in kairos: its caller must await ensureBashGrammar())' };

let loaded: GrammarState | undefined;
let loading: Promise<GrammarState> | undefined;
const failureListeners: ((error: string) => void)[] = [];

/** Loads the grammar once per process (later calls share the first load); resolves, never rejects. */
export function ensureBashGrammar(): Promise<GrammarState> {
  loading ??= loadBashGrammar().then((state) => {
    loaded = state;
    if (!state.ok) for (const listener of failureListeners) listener(state.error);
    return state;
  });
  return loading;
}

/** The grammar as loaded so far: its state once `ensureBashGrammar()` has settled, else a problem. */
export function bashGrammar(): GrammarState {
  return loaded ?? NOT_LOADED;
}

/** Whether `ensureBashGrammar()` has loaded (or failed to load) the grammar in this process. */
export function bashGrammarLoaded(): boolean {
  return loaded !== undefined;
}

/** Called once if the grammar fails to load, when it is first needed (the daemon logs it then). */
export function onBashGrammarFailure(listener: (error: string) => void): void {
  failureListeners.push(listener);
}

export type ParseOutcome = { ok: true; tree: Tree } | { ok: false; error: string };

/**
 * Parses a command with the given grammar. The caller must `tree.delete()` the result: trees live
 * in WebAssembly memory, which the JavaScript garbage collector does not see.
 */
export function parseBash(source: string, grammar: GrammarState = bashGrammar()): ParseOutcome {
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
