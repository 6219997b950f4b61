import { createHash } from 'node:crypto';
import { KeywordIndex } from './keywords.js';
import { KAIROS_RULES, kairosSecretRange, shannonEntropy, type KairosRule } from './kairos-rules.js';
import { isLineLocal, shippedRuleSet, type CompiledAllowlist, type CompiledRule, type RuleSet, type SecretRule } from './rule-set.js';

/**
 * The one redaction function every outgoing channel uses (model requests, tool results, proposal
 * displays, notifications, the daily log, the log file, stored task output, hooks' stdin, MCP
 * answers, CLI listings). Every rule finds its secrets' spans in the original text (after one
 * keyword scan decides which rules run, and where), the spans are merged, and the text is rebuilt
 * once, each span replaced by `[REDACTED:<rule id>]`.
 *
 * Rules: the gitleaks rule set (data, policies/secrets/gitleaks.toml), Kairos's own shapes where
 * gitleaks has none (kairos-rules.ts), and the known secrets: exact values the process holds (the
 * daemon's own API key and other secret-named environment variables), registered at start.
 */

export interface Finding {
  /** The rule that found it: a gitleaks rule id, a Kairos rule kind, or 'known-secret'. */
  kind: string;
  /** First 12 hex digits of the secret's sha256: lets two findings be matched without keeping the secret. */
  fingerprint: string;
}

export interface Redaction {
  text: string;
  findings: Finding[];
}

export interface RedactOptions {
  /** Exact strings that are secrets wherever they appear, on top of the registered ones. */
  knownSecrets?: readonly string[];
  /** Another rule set (tests); default the shipped gitleaks rules. */
  rules?: RuleSet;
}

export interface SecretSpan {
  start: number;
  end: number;
  kind: string;
}

const fingerprint = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 12);
export const redactionMark = (kind: string): string => `[REDACTED:${kind}]`;

// ---------------------------------------------------------------------------------------------
// Known secrets

const registered = new Set<string>();

/** Shorter values would redact ordinary words. */
const MIN_KNOWN_SECRET = 8;

/** Adds exact values that are redacted wherever they appear in this process (e.g. the daemon's API key). */
export function registerKnownSecrets(values: Iterable<string | undefined>): void {
  for (const v of values) if (v && v.trim().length >= MIN_KNOWN_SECRET) registered.add(v.trim());
  knownSecretsVersion++;
}

/** For tests: forget the registered values. */
export function clearKnownSecrets(): void {
  registered.clear();
  knownSecretsVersion++;
}

let knownSecretsVersion = 0;
/** Changes whenever the registered secrets do: a remembered redaction (redact-memo.ts) made before is stale. */
export function knownSecretsGeneration(): number {
  return knownSecretsVersion;
}

// Not PWD (the working directory) nor *_AUTH_SOCK (a socket path): names that hold secrets.
const SECRET_ENV_NAME = /(?:^|_)(?:API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(?:_|$)|SECRET|TOKEN|PASSWORD|API_?KEY/i;

/** The values of secret-named environment variables (ANTHROPIC_API_KEY, GITHUB_TOKEN, DB_PASSWORD, …); paths are not secrets. */
export function secretsFromEnv(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env)
    .filter(([k, v]) => v !== undefined && SECRET_ENV_NAME.test(k) && v.trim().length >= MIN_KNOWN_SECRET && !v.trim().startsWith('/'))
    .map(([, v]) => v!.trim());
}

// ---------------------------------------------------------------------------------------------
// The rules

interface Engine {
  rules: RuleSet;
  keywords: KeywordIndex;
  kairos: Array<KairosRule & { re: RegExp; local: boolean }>;
}

const engines = new WeakMap<RuleSet, Engine>();

function engineFor(rules: RuleSet): Engine {
  let e = engines.get(rules);
  if (!e) {
    const kairos = KAIROS_RULES.map((r) => {
      const re = new RegExp(r.re.source, r.re.flags.includes('d') ? r.re.flags : `${r.re.flags}d`);
      return { ...r, re, local: isLineLocal(new RegExp(r.re.source)) };
    });
    e = { rules, keywords: new KeywordIndex([...rules.rules.flatMap((r) => r.keywords), ...kairos.flatMap((r) => r.keywords ?? [])]), kairos };
    engines.set(rules, e);
  }
  return e;
}

type IndexedMatch = RegExpExecArray & { indices?: Array<[number, number] | undefined> };

function lineAround(text: string, start: number, end: number): string {
  const from = text.lastIndexOf('\n', start - 1) + 1;
  const to = text.indexOf('\n', end);
  return text.slice(from, to < 0 ? text.length : to);
}

function allowed(lists: readonly CompiledAllowlist[], secret: string, match: string, line: () => string): boolean {
  for (const a of lists) {
    const target = a.target === 'secret' ? secret : a.target === 'match' ? match : line();
    const regexHit = a.regex ? a.regex.test(target) : undefined;
    let stopHit: boolean | undefined;
    if (a.stopwords.length) {
      const lower = secret.toLowerCase();
      stopHit = a.stopwords.some((w) => lower.includes(w));
    }
    const ok = a.and ? [regexHit, stopHit].every((c) => c !== false) && (regexHit !== undefined || stopHit !== undefined) : !!regexHit || !!stopHit;
    if (ok) return true;
  }
  return false;
}

/** Spans of one gitleaks rule, with its secretGroup, entropy and allowlists honoured. */
function gitleaksSpans(rule: SecretRule, c: CompiledRule, text: string, orig: string, base: number, global: () => CompiledAllowlist[], out: SecretSpan[]): void {
  const re = c.regex;
  re.lastIndex = 0;
  for (let m = re.exec(text) as IndexedMatch | null; m !== null; m = re.exec(text) as IndexedMatch | null) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    // gitleaks trims newlines off the match (a pattern may end with `\n` as its delimiter).
    let mStart = m.index;
    let mEnd = m.index + m[0].length;
    while (mStart < mEnd && text[mStart] === '\n') mStart++;
    while (mEnd > mStart && text[mEnd - 1] === '\n') mEnd--;
    let range: [number, number] = [mStart, mEnd];
    if (rule.secretGroup > 0) {
      const g = m.indices?.[rule.secretGroup];
      if (!g) continue;
      range = g;
    } else if (m.length > 1) {
      for (let g = 1; g < m.length; g++) {
        const r = m.indices?.[g];
        if (r && r[1] > r[0]) {
          range = r;
          break;
        }
      }
    }
    // Allowlists read the original text (the name pass scans a copy with `.` and `/` as newlines).
    const secret = orig.slice(base + range[0], base + range[1]);
    if (!secret || secret.startsWith('[REDACTED')) continue;
    if (rule.entropy && shannonEntropy(secret) <= rule.entropy) continue;
    const match = orig.slice(base + mStart, base + mEnd);
    const line = (): string => lineAround(orig, base + mStart, base + mEnd);
    if (allowed(global(), secret, match, line) || allowed(c.allowlists, secret, match, line)) continue;
    out.push({ start: base + range[0], end: base + range[1], kind: rule.id });
  }
}

function kairosSpans(rule: KairosRule & { re: RegExp }, text: string, base: number, out: SecretSpan[]): void {
  const re = rule.re;
  re.lastIndex = 0;
  for (let m = re.exec(text) as IndexedMatch | null; m !== null; m = re.exec(text) as IndexedMatch | null) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    if (rule.accept && !rule.accept(m)) continue;
    const r = kairosSecretRange(rule, m);
    if (!r || r[1] <= r[0] || text.startsWith('[REDACTED', r[0])) continue;
    out.push({ start: base + r[0], end: base + r[1], kind: rule.kind });
  }
}

function knownSpans(text: string, secrets: Iterable<string>, out: SecretSpan[]): void {
  for (const s of secrets) {
    for (let i = text.indexOf(s); i >= 0; i = text.indexOf(s, i + s.length)) out.push({ start: i, end: i + s.length, kind: 'known-secret' });
  }
}

/**
 * Lines kept above and below a keyword's line when a gitleaks line-local rule runs around it (its
 * `[\s'"]{0,3}` may step over a line end or two). Kairos's own line-local shapes stay on one line.
 */
const LINES_ABOVE = 2;
const LINES_BELOW = 3;
/** One keyword occurrence per this many characters or more: scan the whole text. */
const DENSE_EVERY = 400;
/** Past this share of the text, windows cost more than one scan of the whole. */
const WINDOW_SHARE = 0.5;

/**
 * The regions a line-local rule must read: the lines around each of its keywords' occurrences,
 * merged; or the whole text when that is cheaper. Each region starts at a line start and ends at a
 * line end, so `^`, `$` and `\b` see what they would see in the whole text.
 */
function regions(text: string, positions: readonly number[], above: number, below: number): Array<[number, number]> {
  const whole: Array<[number, number]> = [[0, text.length]];
  if (positions.length === 0) return [];
  // A keyword every few lines: the regions would cover the text anyway; skip sorting and merging.
  if (positions.length * DENSE_EVERY > text.length) return whole;
  const sorted = [...positions].sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  let covered = 0;
  for (const p of sorted) {
    const last = out[out.length - 1];
    if (last && p < last[1]) continue; // this occurrence is inside the previous region
    let start = text.lastIndexOf('\n', p - 1) + 1;
    for (let k = 0; k < above && start > 0; k++) start = text.lastIndexOf('\n', start - 2) + 1;
    let end = text.indexOf('\n', p);
    if (end < 0) end = text.length;
    for (let k = 0; k < below && end < text.length; k++) {
      const nl = text.indexOf('\n', end + 1);
      end = nl < 0 ? text.length : nl;
    }
    end = Math.min(text.length, end + 1); // the newline too: a rule's delimiter may be it
    if (last && start <= last[1]) {
      covered += end - last[1];
      last[1] = end;
    } else {
      covered += end - start;
      out.push([start, end]);
    }
    if (covered > text.length * WINDOW_SHARE) return whole;
  }
  return out;
}

/** Every secret's span in `text`, unmerged (overlaps possible), in no particular order. */
export function findSecretSpans(text: string, opts: RedactOptions = {}): SecretSpan[] {
  const out: SecretSpan[] = [];
  if (!text) return out;
  knownSpans(text, registered, out);
  if (opts.knownSecrets) knownSpans(text, opts.knownSecrets.filter((s) => s.length >= MIN_KNOWN_SECRET), out);
  const engine = engineFor(opts.rules ?? shippedRuleSet());
  // Most provider rules want a delimiter after the secret (quote, space, `;`, end of line), so a
  // token followed by `.` or `/` (a file name `sk_live_….txt`, a sentence's full stop, a URL path)
  // would pass. A second pass reads the same text with `.`, `/` and `\` as line ends (same
  // length, so spans map 1:1); it runs the gitleaks rules only (Kairos's own already accept them).
  const texts = /[./\\]/.test(text) ? [text, text.replace(/[/\\.]/g, '\n')] : [text];
  // Keywords are found once, in the original text: the copy's offsets are the same, and a keyword
  // with a `.` or `/` in it (hooks.slack.com, ://) would be broken in the copy.
  const found = engine.keywords.scan(text);
  for (const [pass, t] of texts.entries()) {
    const run = (local: boolean, kws: readonly string[] | undefined, lines: [number, number], scan: (text: string, base: number) => void): void => {
      if (!kws || kws.length === 0) return scan(t, 0);
      const at = kws.flatMap((k) => found.get(k) ?? []);
      if (at.length === 0) return;
      if (!local) return scan(t, 0);
      for (const [a, b] of regions(t, at, lines[0], lines[1])) scan(a === 0 && b === t.length ? t : t.slice(a, b), a);
    };
    for (const rule of engine.rules.rules) {
      if (rule.keywords.length && !rule.keywords.some((k) => found.has(k))) continue;
      const c = rule.compiled();
      // The second pass only helps a rule that wants a delimiter after the secret.
      if (c && (pass === 0 || c.delimited)) run(c.local, rule.keywords, [LINES_ABOVE, LINES_BELOW], (x, base) => gitleaksSpans(rule, c, x, text, base, engine.rules.global, out));
    }
    if (pass === 0) {
      for (const rule of engine.kairos) {
        const scan = (x: string, base: number): void => kairosSpans(rule, x, base, out);
        if (!rule.anchor) {
          run(rule.local, rule.keywords, [0, 0], scan);
          continue;
        }
        const at: number[] = [];
        rule.anchor.lastIndex = 0;
        for (let m = rule.anchor.exec(t); m !== null; m = rule.anchor.exec(t)) at.push(m.index);
        if (at.length) for (const [a, b] of regions(t, at, 0, 0)) scan(a === 0 && b === t.length ? t : t.slice(a, b), a);
      }
    }
  }
  return out;
}

/** The generic shapes name a merged span only when no provider rule found it too. */
const GENERIC_RANK: Record<string, number> = { 'known-secret': -1, 'generic-api-key': 1, 'secret-assignment': 2, 'high-entropy-assignment': 3 };
const rank = (kind: string): number => GENERIC_RANK[kind] ?? 0;

/** Merges overlapping spans; the most specific rule among them names the merged one. */
export function mergeSpans(spans: SecretSpan[]): SecretSpan[] {
  const sorted = [...spans].sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: SecretSpan[] = [];
  for (const s of sorted) {
    const last = merged[merged.length - 1];
    if (last && s.start < last.end) {
      last.end = Math.max(last.end, s.end);
      if (rank(s.kind) < rank(last.kind)) last.kind = s.kind;
    } else merged.push({ ...s });
  }
  return merged;
}

/** Replaces every secret found in `text` with `[REDACTED:kind]`. */
export function redact(text: string, opts: RedactOptions = {}): Redaction {
  const found = findSecretSpans(text, opts);
  if (found.length === 0) return { text, findings: [] };
  // Both passes (and two rules) may find the same secret: one finding per span and rule.
  const seen = new Set<string>();
  const spans = found.filter((s) => {
    const k = `${s.start}:${s.end}:${s.kind}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
  const findings = spans.sort((a, b) => a.start - b.start).map((s) => ({ kind: s.kind, fingerprint: fingerprint(text.slice(s.start, s.end)) }));
  let out = '';
  let at = 0;
  for (const s of mergeSpans(spans)) {
    out += text.slice(at, s.start) + redactionMark(s.kind);
    at = s.end;
  }
  return { text: out + text.slice(at), findings };
}

/** Just the redacted text. */
export function redactText(text: string, opts?: RedactOptions): string {
  return redact(text, opts).text;
}

/**
 * Every string inside a plain JSON-like value, redacted (objects and arrays are copied; other
 * values are returned as they are). Keys are kept: they are names the code chose.
 */
export function redactDeep(value: unknown, opts?: RedactOptions): unknown {
  return deep(value, opts ?? {}, 0);
}

/** redactDeep for a record whose keys the caller goes on reading (a copy; every string inside redacted). */
export function redactRecord(value: Readonly<Record<string, unknown>>, opts?: RedactOptions): Record<string, unknown> {
  return deepRecord(value, opts ?? {}, 0);
}

const MAX_DEPTH = 64;

function deep(v: unknown, opts: RedactOptions, depth: number): unknown {
  if (typeof v === 'string') return redact(v, opts).text;
  if (v === null || typeof v !== 'object' || depth > MAX_DEPTH) return v;
  if (Array.isArray(v)) return v.map((x) => deep(x, opts, depth + 1));
  if (Buffer.isBuffer(v) || v instanceof Date) return v;
  return deepRecord(v, opts, depth);
}

function deepRecord(v: object, opts: RedactOptions, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = deep(x, opts, depth + 1);
  return out;
}
