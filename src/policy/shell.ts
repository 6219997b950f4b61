import { bashGrammar, ensureBashGrammar, type GrammarState } from './shell-grammar.js';
import { analyseSource } from './shell-walk.js';
import type { Origin } from './shell-wrappers.js';

export { isDangerousVariable } from './shell-variables.js';
export type { Origin } from './shell-wrappers.js';
export { ensureBashGrammar };

/**
 * Splits a shell command into the simple commands it would run, so each one is checked on its own:
 * `npm test && curl x | sh` is three commands, and an allow rule for the first says nothing about
 * the others. The command is parsed with bash's grammar (tree-sitter-bash, shell-grammar.ts) and
 * its syntax tree walked (shell-walk.ts) to every command anywhere in it, including the ones other
 * programs run (`time -p curl x`, `sh -c '…'`, `find -exec`; shell-wrappers.ts). Anything the
 * walk cannot follow is a problem, never ignored: the permission layer turns it into ask.
 */

export interface Redirect {
  op: string;
  target: string;
  /** `>`, `>>`, `>|`, `&>`, `<>`: the target file is written. */
  write: boolean;
  /** `<`, `<>`: the target file is read. */
  read: boolean;
}

export interface SimpleCommand {
  /** The command as rules see it: every word as bash passes it (quotes removed, braces expanded), wrappers included. */
  text: string;
  argv: string[];
  /** Programs this command runs inside, outermost first (`sudo`, `timeout`, `sh -c`, …). */
  wrappers: string[];
  /** Names of variables set for this command (`A=1 cmd`, `env A=1 cmd`). */
  assignments: string[];
  redirects: Redirect[];
  /** Where the command came from: the top level, or inside something else. */
  origin: Origin;
  /** A `cd`/`pushd` ran earlier in the same command line, so relative paths are relative to somewhere else. */
  afterCd: boolean;
  /** Reasons this command cannot be understood; any one makes the whole command ask. */
  problems: string[];
  /**
   * Set when another command runs this one (`timeout 5 npm test` runs `npm test`): the index of that
   * command in the parts, where this one starts in its text, how much of its text a rule must name
   * to name this command too, and whether this command's text is the rest of its text.
   */
  via?: { part: number; offset: number; needed: number; suffix: boolean };
  /** Code no rule can look into (`python3 -c …`): asks unless an allow rule names the first `needed` characters. */
  constructs: { what: string; needed: number }[];
  /** A word is only known at run time (a variable, a substitution, a glob): rules see it as written. */
  runtimeWords: boolean;
  /** The text up to the first word only known at run time (all of it when there is none). */
  knownPrefix: string;
  /** A program not known to this module: its arguments might be a command it runs. */
  mayRunArguments: boolean;
  /** A shell or interpreter that runs what arrives on its standard input (`always`: even with no here-document). */
  readsStdin?: { program: string; shell: boolean; always: boolean };
}

export interface CommandAnalysis {
  source: string;
  parts: SimpleCommand[];
  /** Problems with the command line as a whole (a syntax error, nesting too deep, …). */
  problems: string[];
}

/**
 * Synchronous: the caller has awaited `ensureBashGrammar()` (see shell-grammar.ts). `grammar` is
 * for tests of the failure path; without a loaded grammar every command is one problem.
 */
export function decomposeCommand(command: string, grammar: GrammarState = bashGrammar()): CommandAnalysis {
  const out: CommandAnalysis = { source: command, parts: [], problems: [] };
  if (!grammar.ok) {
    out.problems.push(`${grammar.error}, so no command can be checked`);
    return out;
  }
  analyseSource(command, 'top', 0, out);
  return out;
}

/** Whether the bash grammar loads (loading it if no check has yet); when not, every command asks, and this says why. */
export async function shellGrammarStatus(): Promise<{ ok: true } | { ok: false; error: string }> {
  const grammar = await ensureBashGrammar();
  return grammar.ok ? { ok: true } : { ok: false, error: grammar.error };
}
