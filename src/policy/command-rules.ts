import { allow, ask, combine, deny, type Verdict } from './decision.js';
import type { PermissionRules } from './permission.js';
import { ruleLiteralPrefix, ruleMatchesCommand, ruleNamedLength, type Rule } from './rules.js';
import { decomposeCommand, type SimpleCommand } from './shell.js';
import { renderTokens } from './shell-words.js';
import { ESCALATE, runsCommands } from './shell-wrappers.js';

/**
 * What the Bash rules say about one simple command (shell.ts), in this order:
 *  1. a deny rule matching it (also by the program's base name: `/usr/bin/curl` is `curl`) denies;
 *  2. `sudo` and the like are denied unless an allow rule names them;
 *  3. an ask rule asks; an allow rule allows; a command another one runs (`npm test` in
 *     `timeout 5 npm test`) is also allowed when the rule allowing that one names it too
 *     (`Bash(sudo apt-get update)`); anything else asks;
 *  4. an allowed command still asks when it runs code no rule can see into (`python3 -c`), unless
 *     the rule names that; when a word is only known at run time and a deny or ask rule might
 *     match once it is; and when an unknown program is given a denied command as its arguments.
 * `named[i]`: how much of part i's text the rule that allowed it spells out (see ruleNamedLength).
 */
export function commandVerdict(part: SimpleCommand, rules: PermissionRules, named: readonly number[]): { verdict: Verdict; named: number } {
  const subject = `Bash(${part.text})`;
  const variants = withBaseName(part.argv, part.text);
  const guards = (r: Rule): boolean => variants.some((t) => ruleMatchesCommand(r, t));
  const denied = rules.deny.find(guards);
  if (denied) return { verdict: deny(`${subject} is denied by rule ${denied.text}`, denied.text), named: 0 };

  const allowedBy = rules.allow.find((r) => ruleMatchesCommand(r, part.text));
  const program = baseName(part.argv[0] ?? '');
  if (ESCALATE.has(program)) {
    // only a rule that names the escalation itself can allow it; a bare `Bash` never does
    const naming = allowedBy && new RegExp(`^Bash\\(\\s*${escapeRe(part.argv[0]!)}\\b`).test(allowedBy.text);
    if (!naming || rules.ask.some(guards)) {
      return { verdict: deny(`'${program}' runs a command as another user: denied unless an allow rule names it, e.g. "Bash(${part.text})"`), named: 0 };
    }
  }
  const asked = rules.ask.find(guards);
  if (asked) return { verdict: ask(`${subject} needs approval by rule ${asked.text}`, asked.text), named: 0 };

  const inherited = inheritedNaming(part, named);
  let verdict: Verdict;
  let own = 0;
  if (allowedBy) {
    verdict = allow(`${subject} is allowed by rule ${allowedBy.text}`, allowedBy.text);
    own = ruleNamedLength(allowedBy, part.text);
  } else if (inherited > 0) {
    verdict = allow(`${subject} is allowed by the rule that allows the command running it, which names it`);
  } else {
    verdict = ask(`no rule allows ${subject}${part.via ? ' (a rule allowing the command that runs it does not name it)' : ''}`);
  }
  const naming = Math.max(own, inherited);
  const extra: Verdict[] = [];
  for (const k of part.constructs) {
    if (naming < k.needed) extra.push(ask(`${k.what}: allow it with a rule that names it, e.g. "Bash(${part.text.slice(0, k.needed)}:*)"`));
  }
  if (part.runtimeWords) {
    const maybe = [...rules.deny, ...rules.ask].find((r) => couldMatchLater(r, part));
    if (maybe) extra.push(ask(`${subject} has words only known at run time, and rule ${maybe.text} may match it once they are`));
  }
  const environ = [...part.argv.slice(1), ...part.redirects.map((r) => r.target)].find((a) => PROCESS_SECRETS.test(a));
  if (environ) extra.push(ask(`${subject} reads '${environ}', a process's environment or memory, where secrets live`));
  if (part.mayRunArguments) {
    const hit = deniedInArguments(part.argv, rules);
    if (hit) extra.push(ask(`'${part.argv[0]}' is given '${hit.command}' in its arguments; if it runs that, rule ${hit.rule.text} applies`));
  }
  // (every extra is an ask; with none, the verdict keeps its reason, which combine() would drop for an allow)
  return { verdict: extra.length ? combine([verdict, ...extra]) : verdict, named: verdict.decision === 'allow' ? naming : 0 };
}

/** Arguments looked at as commands an unknown program might run: past this, asking is cheaper than reading. */
const MAX_ARGUMENT_SCRIPTS = 16;

/**
 * For a program this module does not know (`docker run img sh -c '…'`, `nix-shell --run '…'`,
 * `mywrapper git push`): a deny or ask rule matching the words from some argument on, a
 * command in an argument with spaces, or a command a shell or wrapper among the arguments runs.
 */
function deniedInArguments(argv: readonly string[], rules: PermissionRules): { rule: Rule; command: string } | undefined {
  const guards = [...rules.deny, ...rules.ask];
  if (guards.length === 0) return undefined;
  const matching = (words: readonly string[], text: string): Rule | undefined => guards.find((r) => withBaseName(words, text).some((t) => ruleMatchesCommand(r, t)));
  let scripts = 0;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('-')) continue;
    const tail = argv.slice(i);
    const direct = matching(tail, renderTokens(tail));
    if (direct) return { rule: direct, command: renderTokens(tail) };
    const source = /\s/.test(a) ? a : runsCommands(a) ? renderTokens(tail) : undefined;
    if (source === undefined || ++scripts > MAX_ARGUMENT_SCRIPTS) continue;
    for (const p of decomposeCommand(source).parts) {
      const r = p.text ? matching(p.argv, p.text) : undefined;
      if (r) return { rule: r, command: p.text };
    }
  }
  return undefined;
}

/** A command run by another is named by the rule that allowed that one when the rule spells it out. */
function inheritedNaming(part: SimpleCommand, named: readonly number[]): number {
  if (!part.via || !Number.isFinite(part.via.needed)) return 0; // a here-document body: no rule can name it
  const parent = named[part.via.part] ?? 0;
  if (parent < part.via.needed) return 0;
  return part.via.suffix ? parent - part.via.offset : Number.POSITIVE_INFINITY;
}

/**
 * Whether a deny or ask rule could match the command once its run-time words are known: the rule
 * spells out nothing beyond what is known, or what it spells out agrees with the known part.
 */
function couldMatchLater(rule: Rule, part: SimpleCommand): boolean {
  if (rule.tool !== 'Bash') return false;
  if (rule.specifier === undefined) return true;
  const literal = ruleLiteralPrefix(rule);
  return withBaseName(part.argv, part.knownPrefix).some(
    (known) => known === '' || literal === known || literal.startsWith(`${known} `) || known.startsWith(literal),
  );
}

/** `/proc/self/environ`, `/proc/1/mem`: what a process holds, secrets included. */
const PROCESS_SECRETS = /^\/proc\/[^/]+\/(?:task\/[^/]+\/)?(?:environ|mem)$/;

const baseName = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The text, and the same with the program's directory removed (`/usr/bin/curl x` → `curl x`). */
function withBaseName(argv: readonly string[], text: string): string[] {
  const prog = argv[0] ?? '';
  if (!prog.includes('/') || baseName(prog) === '') return [text];
  const rendered = renderTokens([prog]);
  return text.startsWith(rendered) ? [text, renderTokens([baseName(prog)]) + text.slice(rendered.length)] : [text];
}
