import fs from 'node:fs';
import path from 'node:path';
import { packagePath } from '../../core/package-root.js';
import { parse as parseToml } from 'smol-toml';
import { translateRe2, Untranslatable } from './re2-to-js.js';
import { UserInputError, messageOf } from '../../core/errors.js';
import { isRecord } from '../../core/record.js';

/**
 * Loads a gitleaks rule file (TOML, gitleaks' own format) as data and compiles it for redaction.
 * The shipped file is policies/secrets/gitleaks.toml, gitleaks' rules as an npm package publishes
 * them (see the README beside it); `scripts/update-secret-rules.mjs` refreshes it.
 *
 * How gitleaks' fields are honoured when the question is "redact this text?" rather than "report
 * this file":
 * - regex, secretGroup (else the first non-empty group, else the match), entropy (the secret's
 *   Shannon entropy must be above it), keywords (the rule runs only when one occurs in the text,
 *   case-insensitively): as gitleaks does.
 * - allowlists with regexes (target secret, match or line) and stopwords: as gitleaks does. Path and
 *   commit conditions cannot hold for text that has no path: an OR allowlist keeps its other checks,
 *   an AND allowlist that needs a path never applies (so the text is redacted).
 * - `path` on a rule with a regex: ignored, the regex runs on all text (a YAML secret quoted in a
 *   command's output is still a secret). A path-only rule (no regex) has nothing to redact: skipped.
 * - `gitleaks:allow` comments are NOT honoured: text on the same line is attacker-controlled often
 *   enough (a command's output, a file in an untrusted repository) that it must not switch redaction off.
 * A rule or allowlist regex that cannot be translated is skipped and counted, never a crash.
 */

export type AllowTarget = 'secret' | 'match' | 'line';

export interface CompiledAllowlist {
  target: AllowTarget;
  /** All of the allowlist's regexes as one alternation (undefined: none). */
  regex?: RegExp;
  /** Lower-case. */
  stopwords: string[];
  /** condition = "AND": every present check must hold. */
  and: boolean;
}

export interface CompiledRule {
  regex: RegExp;
  allowlists: CompiledAllowlist[];
  /**
   * Its matches stay within a few lines of a keyword (no `[\s\S]`, `(?s)`, explicit newline or
   * unbounded whitespace run): it may be run on the lines around each keyword instead of the whole text.
   */
  local: boolean;
  /**
   * A token with a fixed prefix (`sk_live_…`, `glpat-…`) that wants a delimiter after it (quote,
   * space, `;`, end): the pass that reads `.` and `/` as token ends finds it in a file name or before
   * a full stop. The keyed templates (`<name> = <value>`) are not rerun: their secrets sit in
   * assignments, not in names, and they are the costly ones.
   */
  delimited: boolean;
}

/** See CompiledRule.local. */
export function isLineLocal(re: RegExp): boolean {
  const src = re.source;
  if (re.flags.includes('s') || re.flags.includes('m')) return false;
  if (/\[\\s\\S|\[\^\]|\\n|\\r|\\v|\\f/.test(src)) return false;
  // `\s` (alone or in a class) under an unbounded quantifier can run over any number of lines.
  return !/\\s(?:[^\]]*\])?(?:[*+]|\{\d+,\})/.test(src);
}

export interface SecretRule {
  id: string;
  /** 0: the first non-empty capture group, else the whole match. */
  secretGroup: number;
  /** 0: no entropy check. */
  entropy: number;
  /** Lower-case; empty: always run. */
  keywords: string[];
  /**
   * The translated regex and allowlists, compiled on first use (a CLI call that redacts a short
   * text compiles only the rules whose keywords occur in it); undefined when the regex cannot be
   * translated (the rule is then in RuleSet.skipped).
   */
  compiled(): CompiledRule | undefined;
}

export interface SkippedRule {
  id: string;
  reason: string;
}

export interface RuleSet {
  rules: SecretRule[];
  /** The file's global allowlists, compiled on first use. */
  global: () => CompiledAllowlist[];
  /** Rules (and allowlist regexes) left out, with why; complete once compileAll has run. */
  skipped: SkippedRule[];
  /** Compiles every rule now (the daemon does, at start, to log the skipped count once). */
  compileAll(): void;
  /** Where the rules came from (a file path, or 'inline'). */
  source: string;
}

export class SecretRulesError extends UserInputError {
  override name = 'SecretRulesError';
}

interface RawAllowlist {
  description?: unknown;
  condition?: unknown;
  regexTarget?: unknown;
  regexes?: unknown;
  stopwords?: unknown;
  paths?: unknown;
  commits?: unknown;
}

const strings = (v: unknown, where: string): string[] => {
  if (v === undefined) return [];
  const out = Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
  if (!Array.isArray(v) || out.length !== v.length) throw new SecretRulesError(`${where}: expected a list of strings`);
  return out;
};

/** A TOML table's keys, or none for a value that is not a table (its fields then read as absent, as before). */
const table = (v: unknown): Record<string, unknown> => (isRecord(v) ? v : {});

/** `regexTarget`, which checkAllowlistShape has already limited to these three. */
const allowTarget = (v: unknown): AllowTarget => (v === 'match' || v === 'line' ? v : 'secret');

/** Compiles a JS RegExp from a Go pattern; `extra` adds flags (g, d). */
export function compileRe2(pattern: string, extra = ''): RegExp {
  const js = translateRe2(pattern);
  return new RegExp(js.source, [...new Set(js.flags + extra)].join(''));
}

function compileAllowlist(raw: RawAllowlist, where: string, skipped: SkippedRule[]): CompiledAllowlist | undefined {
  const target = allowTarget(raw.regexTarget);
  const and = typeof raw.condition === 'string' && raw.condition.toUpperCase() === 'AND';
  const hasPathOrCommit = strings(raw.paths, `${where}.paths`).length > 0 || strings(raw.commits, `${where}.commits`).length > 0;
  // Text to redact has no path and no commit: an AND allowlist that needs one never holds.
  if (and && hasPathOrCommit) return undefined;
  const sources: string[] = [];
  for (const re of strings(raw.regexes, `${where}.regexes`)) {
    try {
      sources.push(`(?:${wrapFlags(re)})`);
    } catch (e) {
      skipped.push({ id: where, reason: `allowlist regex ${re}: ${messageOf(e)}` });
    }
  }
  const stopwords = strings(raw.stopwords, `${where}.stopwords`).map((s) => s.toLowerCase());
  if (sources.length === 0 && stopwords.length === 0) return undefined;
  return { target, and, stopwords, ...(sources.length ? { regex: new RegExp(sources.join('|')) } : {}) };
}

/**
 * One allowlist regex as a flag-free JS source, so several can be joined into one alternation:
 * a pattern's own leading flags become a modifier group, expanded by the translation.
 */
function wrapFlags(goPattern: string): string {
  const js = translateRe2(goPattern);
  if (!js.flags) return js.source;
  return translateRe2(`(?${js.flags}:${stripLeadingFlags(goPattern)})`).source;
}

function stripLeadingFlags(p: string): string {
  return p.replace(/^\(\?[ims]+\)/, '');
}

/** Parses and compiles gitleaks TOML text. Throws SecretRulesError for a file that is not a rule file at all. */
export function compileRuleSet(tomlText: string, source = 'inline'): RuleSet {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(tomlText) as Record<string, unknown>;
  } catch (e) {
    throw new SecretRulesError(`${source}: not valid TOML: ${messageOf(e)}`, { cause: e });
  }
  const skipped: SkippedRule[] = [];
  const globalRaw: RawAllowlist[] = [...(doc.allowlist ? [doc.allowlist] : []), ...(Array.isArray(doc.allowlists) ? doc.allowlists : [])].map(table);
  let global: CompiledAllowlist[] | undefined;
  const compileGlobal = (): CompiledAllowlist[] =>
    (global ??= globalRaw.map((a, i) => compileAllowlist(a, `${source}: allowlists[${i}]`, skipped)).filter((a): a is CompiledAllowlist => a !== undefined));
  if (!Array.isArray(doc.rules)) throw new SecretRulesError(`${source}: no [[rules]]: this is not a gitleaks rule file`);
  const rules: SecretRule[] = [];
  for (const [i, r] of doc.rules.map(table).entries()) {
    const id = typeof r.id === 'string' ? r.id : `rules[${i}]`;
    const where = `${source}: rule ${id}`;
    const pattern = r.regex;
    if (typeof pattern !== 'string') {
      skipped.push({ id, reason: r.path !== undefined ? 'path-only rule: no text to redact' : 'no regex' });
      continue;
    }
    const rawLists: RawAllowlist[] = [...(r.allowlist ? [r.allowlist] : []), ...(Array.isArray(r.allowlists) ? r.allowlists : [])].map(table);
    // Shape errors are the file's fault and are reported now; translation waits for first use.
    rawLists.forEach((a, k) => checkAllowlistShape(a, `${where}: allowlists[${k}]`));
    let compiled: CompiledRule | undefined | null = null;
    rules.push({
      id,
      secretGroup: typeof r.secretGroup === 'number' ? r.secretGroup : 0,
      entropy: typeof r.entropy === 'number' ? r.entropy : 0,
      keywords: [...new Set(strings(r.keywords, `${where}.keywords`).map((k) => k.toLowerCase()))],
      compiled() {
        if (compiled !== null) return compiled;
        try {
          const regex = compileRe2(pattern, 'gd');
          const allowlists = rawLists.map((a, k) => compileAllowlist(a, `${where}: allowlists[${k}]`, skipped)).filter((a): a is CompiledAllowlist => a !== undefined);
          const keyed = /^(?:\(\?:)?\[\\w\.-\]\{0,\d+\}\?/.test(regex.source);
          compiled = { regex, allowlists, local: isLineLocal(regex), delimited: !keyed && /\\x60'"\\s;\]|\(\?:\\s\|\$\)/.test(regex.source) };
        } catch (e) {
          if (!(e instanceof Untranslatable)) throw e;
          skipped.push({ id, reason: e.message });
          compiled = undefined;
        }
        return compiled;
      },
    });
  }
  globalRaw.forEach((a, i) => checkAllowlistShape(a, `${source}: allowlists[${i}]`));
  return {
    rules,
    global: compileGlobal,
    skipped,
    source,
    compileAll() {
      compileGlobal();
      for (const r of rules) r.compiled();
    },
  };
}

function checkAllowlistShape(raw: RawAllowlist, where: string): void {
  const target = raw.regexTarget ?? 'secret';
  if (target !== 'secret' && target !== 'match' && target !== 'line') throw new SecretRulesError(`${where}.regexTarget: expected "secret", "match" or "line", got ${JSON.stringify(target)}`);
  for (const k of ['regexes', 'stopwords', 'paths', 'commits'] as const) strings(raw[k], `${where}.${k}`);
}

/** The shipped rule file: policies/secrets/gitleaks.toml in the package root (source, dist/src or the bundle). */
export function shippedRulesPath(): string {
  const p = packagePath('policies', 'secrets', 'gitleaks.toml');
  if (fs.existsSync(p)) return p;
  throw new SecretRulesError('policies/secrets/gitleaks.toml: the shipped secret rules are missing; reinstall Kairos');
}

let shipped: RuleSet | undefined;

/** The shipped rules, parsed once per process; each rule is translated on first use. */
export function shippedRuleSet(): RuleSet {
  if (!shipped) {
    const file = shippedRulesPath();
    shipped = compileRuleSet(fs.readFileSync(file, 'utf8'), path.relative(process.cwd(), file) || file);
  }
  return shipped;
}
