import { createHash } from 'node:crypto';
import RandExpModule from 'randexp';
import { shannonEntropy } from '../../src/policy/redact/kairos-rules.js';
import type { CompiledAllowlist, SecretRule } from '../../src/policy/redact/rule-set.js';
import { seededRandom } from './seeded-random.js';

/**
 * Generated true positives for a gitleaks rule, made the way gitleaks' own generator makes its
 * examples: random strings drawn from the rule's regex (here with randexp over the translated
 * JavaScript regex, seeded from the rule id so every run and every machine sees the same
 * strings), then placed in the assignments a config or source file would hold them in.
 *
 * A drawn string is kept only when it is a true positive by the rule's own definition: the rule's
 * regex matches it, its secret (the rule's secret group) is not empty, the secret's entropy is
 * above the rule's threshold, and no allowlist of the rule or the file (regexes, stopwords) lets it
 * go. A rule whose keyword the regex does not spell out (`facebook` for a bare `\d{15}|…` token, or
 * `gems.contribsys.com` where the regex's `.` drew another character) gets the keyword in a
 * comment on the line above, as a file naming the service would. What the redaction then does
 * with the samples is the test's business.
 */

export interface RuleSample {
  rule: string;
  /** The text handed to redact(). */
  text: string;
  /** The part that must not survive redaction. */
  secret: string;
  /** 'drawn' (the regex's own sample as it came) or the template's name. */
  context: string;
}

/** Assignments as config and source files write them; `ID` is an identifier made of the rule's keyword. */
const TEMPLATES: ReadonlyArray<[name: string, make: (id: string, secret: string) => string]> = [
  ['toml', (id, s) => `${id}_token = "${s}"`],
  ['dotenv', (id, s) => `export ${id.toUpperCase()}_API_KEY=${s}`],
  ['yaml', (id, s) => `  ${id}Secret: ${s}`],
  ['json', (id, s) => `{"${id}_key": "${s}"}`],
  ['js', (id, s) => `const ${id}Token = '${s}';`],
];

/** How many strings are drawn before a rule is declared unsampleable. */
const MAX_DRAWS = 400;
/** Repetitions (`*`, `+`, `{n,}`) are drawn up to this many extra times: samples stay line-sized. */
const MAX_REPEAT = 6;

// randexp is CommonJS (`module.exports = RandExp`) with typings that declare a default export: at
// run time the default import is the class itself.
const RandExp = RandExpModule as unknown as typeof RandExpModule.default;

function seedOf(id: string): number {
  return createHash('sha256').update(id).digest().readUInt32LE(0);
}

/** The secret in a match, as redaction reads it: the secret group, else the first non-empty group, else the match. */
function secretOf(m: RegExpExecArray, secretGroup: number): string {
  if (secretGroup > 0) return m[secretGroup] ?? '';
  for (let g = 1; g < m.length; g++) if (m[g]) return m[g]!;
  return m[0];
}

function matchOnce(re: RegExp, text: string): RegExpExecArray | null {
  return new RegExp(re.source, re.flags.replace(/[gy]/g, '')).exec(text);
}

/**
 * `count` drawn strings for the rule, each followed by every template the rule's regex accepts
 * around its secret; or why none could be drawn.
 */
export function sampleRule(rule: SecretRule, globalLists: readonly CompiledAllowlist[], count: number): RuleSample[] | { unsampleable: string } {
  const compiled = rule.compiled();
  if (!compiled) return { unsampleable: 'the regex does not translate' };
  const re = compiled.regex;
  const lists = [...globalLists, ...compiled.allowlists];
  const random = seededRandom(seedOf(rule.id));
  const gen = new RandExp(new RegExp(literalDots(re.source), re.flags.replace(/[gdy]/g, '')));
  gen.max = MAX_REPEAT;
  gen.randInt = (a: number, b: number) => a + Math.floor(random() * (b - a + 1));
  // `.` and negated classes draw from printable ASCII, as text in a file would hold.
  gen.defaultRange.subtract(0, 0x1f).subtract(0x7f, 0xffff);
  const isTruePositive = (secret: string, match: string, text: string): boolean =>
    secret.length > 0 && (!rule.entropy || shannonEntropy(secret) > rule.entropy) && !lists.some((a) => allowlistHolds(a, secret, match, text));
  const hasKeyword = (text: string): boolean => rule.keywords.length === 0 || rule.keywords.some((k) => text.toLowerCase().includes(k));

  const out: RuleSample[] = [];
  let drawn = 0;
  for (let draws = 0; draws < MAX_DRAWS && drawn < count; draws++) {
    const raw = gen.gen();
    const text = hasKeyword(raw) ? raw : `# ${rule.keywords[0]}\n${raw}`;
    const m = matchOnce(re, text);
    if (!m) continue;
    const secret = secretOf(m, rule.secretGroup);
    if (!isTruePositive(secret, m[0], text)) continue;
    drawn++;
    out.push({ rule: rule.id, text, secret, context: text === raw ? 'drawn' : 'drawn, keyword above' });
    const id = identifierFrom(rule.keywords.find((k) => raw.toLowerCase().includes(k)) ?? rule.keywords[0] ?? rule.id);
    for (const [name, make] of TEMPLATES) {
      const wrapped = make(id, secret);
      const wm = matchOnce(re, wrapped);
      if (wm && secretOf(wm, rule.secretGroup) === secret && hasKeyword(wrapped) && isTruePositive(secret, wm[0], wrapped)) out.push({ rule: rule.id, text: wrapped, secret, context: name });
    }
  }
  if (drawn === 0) return { unsampleable: `no string drawn in ${MAX_DRAWS} tries is a true positive of the rule` };
  return out;
}

/**
 * `hooks.slack.com` in a rule's regex means the host name (the `.` is unescaped, so it also matches
 * any character): draw the dot itself. Only for drawing; samples are still checked against the rule.
 */
function literalDots(source: string): string {
  return source.replace(/(?<=[A-Za-z]{2})\.(?=[A-Za-z])/g, '\\.');
}

/**
 * Whether an allowlist lets a finding go, by gitleaks' definition: any of its checks (all, for
 * condition AND) holds; the regexes read the secret, the whole match or the line, as the list says.
 * The samples are single lines or a comment line and the secret's line, so "line" reads the text.
 */
function allowlistHolds(a: CompiledAllowlist, secret: string, match: string, text: string): boolean {
  const checks: boolean[] = [];
  if (a.regex) checks.push(a.regex.test(a.target === 'secret' ? secret : a.target === 'match' ? match : text));
  if (a.stopwords.length) checks.push(a.stopwords.some((w) => secret.toLowerCase().includes(w)));
  return a.and ? checks.length > 0 && checks.every(Boolean) : checks.some(Boolean);
}

/** `sk_live_` → `sk_live`, `hooks.slack.com` → `hooks_slack_com`: a name a template can use. */
function identifierFrom(keyword: string): string {
  const id = keyword.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return /^[A-Za-z]/.test(id) ? id : `k${id}`;
}
