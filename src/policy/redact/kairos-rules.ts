/**
 * Kairos's own secret shapes, kept only where the gitleaks rule set has no equivalent for
 * redaction:
 * - a private-key block cut short (command output bounded mid-key, a JSON-escaped key): gitleaks
 *   wants the END line and 64 characters of body;
 * - Anthropic tokens (api03 and admin01 keys, oauth and session tokens, and any cut short): the
 *   shipped gitleaks rules (v8.27.2) predate gitleaks' Anthropic rules;
 * - provider tokens with a fixed prefix that the shipped gitleaks rules predate or know only next to
 *   the provider's name: Amazon Bedrock API keys, Airtable personal access tokens, JFrog Artifactory
 *   API keys and reference tokens (each format as the provider documents it; see the rules below);
 * - the AWS secret access key next to its name (gitleaks has no rule for it);
 * - credentials in a URL (`postgres://user:pass@host`) and `Authorization: Bearer/Basic/Token …`
 *   outside a curl command;
 * - `KEY=value` where the key is named like a secret, whatever the value's entropy (`DB_PASSWORD=hunter2horse`):
 *   gitleaks' generic rule wants entropy above 3.5; an .env line is a secret whatever it looks like;
 * - a long high-entropy quoted value assigned to any name.
 * The assignment shapes accept any non-word character before the key, so a unified diff's
 * `+API_KEY=…`, `-API_KEY=…` and ` API_KEY=…` lines are caught like the file's own lines.
 */

export interface KairosRule {
  kind: string;
  re: RegExp;
  /** Which capture group is the secret (0: the whole match). */
  group: number;
  /** Runs only when one of these (lower-case) occurs in the text; none: always. */
  keywords?: string[];
  /**
   * Instead of keywords: a cheap pattern for the part every match must contain (V8 finds a quote or
   * `://` far faster than it tries the full pattern at every position); the rule then runs only on
   * the lines where the anchor matched.
   */
  anchor?: RegExp;
  /** A last check on the match (placeholders, code, low entropy); true keeps it as a finding. */
  accept?: (m: RegExpExecArray) => boolean;
}

export function shannonEntropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

function isPlaceholder(v: string): boolean {
  return (
    v.length < 3 ||
    /^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/.test(v) || // a reference to another variable
    /^\$?\{\{.*\}\}$/.test(v) || // CI expression, Helm/Go/Jinja template
    /EXAMPLE/.test(v) || // vendors' documented example keys (AWS's AKIAIOSFODNN7EXAMPLE, …EXAMPLEKEY)
    /^%[A-Za-z_]+%$/.test(v) ||
    /^<[^>]*>$/.test(v) ||
    /^(.)\1+$/.test(v) || // ******** or xxxxxxxx
    /(.)\1{11,}|x{6,}|X{6,}|\*{4,}|#{4,}|redacted|your[_-]?(?:[a-z]+[_-]?)*here/i.test(v) || // fo1_xxxxxxxx, glc_1111…, [Redacted], <PUT_YOUR_TOKEN_HERE>
    /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-=+?][^}]*)?\}$/.test(v) || // ${VAR:-default}
    /abcdefghij|0123456789/i.test(v) || // an alphabet, not a key
    /^(?:true|false|null|none|nil|undefined|changeme|change_me|your[_-].*|example|placeholder|redacted|secret|password|string|str|bytes|required|optional)$/i.test(v) ||
    v.startsWith('[REDACTED')
  );
}

/** Looks like code (`config.token`, `getToken`, `req.body.password`), not a literal secret. */
function looksLikeCode(v: string): boolean {
  return /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/.test(v) || (/^[a-z_$][\w$]*$/.test(v) && !/\d/.test(v));
}

/** Long, mixed-case-and-digit, high-entropy: a key, not a word, a hex digest or a UUID. */
function highEntropy(v: string): boolean {
  if (/^[0-9a-f-]+$/i.test(v)) return false; // hex: git shas, digests, UUIDs
  if (!(/[a-z]/.test(v) && /[A-Z]/.test(v) && /\d/.test(v))) return false;
  return shannonEntropy(v) >= 4.2;
}

// Bounded runs around the word: unbounded ones cost a backtracking engine O(L²) on a long run of
// key characters (a hostile line of 100,000 dashes).
const SECRET_KEY =
  '[A-Za-z0-9_.-]{0,40}(?:secret|token|passw(?:or)?d|passwd|pwd|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth[_-]?key|session[_-]?key|signing[_-]?key|encryption[_-]?key|webhook[_-]?secret)[A-Za-z0-9_.-]{0,40}';
const NOT_SECRET_KEYS = /^(?:integrity|hash|checksum|sha\d*|digest|etag|commit|rev|revision|resolved|id|uuid|version|name|path|url|href|src|key_id|kid|nonce|salt_length)$|public|(?:^|[_.-])pub(?:lic)?[_.-]?key/i;
/**
 * Keys named like a secret that hold something else: its id, name, file, URL, size (`credentialsId`,
 * `LLM_SECRET_NAME`, `TokenFile`, `access_token_url`), a CSRF token or a public key. From gitleaks'
 * generic-rule allowlist, in Kairos's terms.
 */
const NOT_SECRET_KEY_PARTS = /(?:[_.-]?ids?|[_.-]?(?:url|uri|name|file|path|endpoint|length|size|type|header|count|ttl|expiry|expires?(?:[_.-]?\w+)?|timeout|prefix|suffix))$|csrf|xsrf|public|(?:^|[_.-])pub(?:lic)?[_.-]?key/i;
/** Before a key: start of line or any non-word character (`+` / `-` / ` ` of a diff line, `{`, `"`, `;`, …). */
const LEAD = '(^|[^A-Za-z0-9_])';
/**
 * `=`, `:=`, `::=`, or `:` before a space or quote (YAML, JSON), on one line: `io.jsonwebtoken:jjwt` is
 * a Maven coordinate, and `KEY=` at a line's end has no value (the next line is not its value).
 */
const SEPARATOR = '[ \\t]*(?::{0,2}=|:(?=[ \\t"\'])|=>)[ \\t]*';

export const KAIROS_RULES: readonly KairosRule[] = [
  {
    // The body must start like one (16 base64 characters, after newlines or JSON's `\n`), so a
    // template with an empty or placeholder body is not a key.
    kind: 'private-key-block',
    re: /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----(?=(?:\s|\\n)*[A-Za-z0-9+/=]{16})[\s\S]*?(?:-----END \1PRIVATE KEY\2-----|$)/g,
    group: 0,
    keywords: ['private key'],
  },
  { kind: 'anthropic-key', re: /\bsk-ant-[A-Za-z0-9]{2,10}-[A-Za-z0-9_-]{20,}/g, group: 0, keywords: ['sk-ant-'] },
  // AWS, "Amazon Bedrock API keys": a long-term key is `ABSK` + the base64 of `BedrockAPIKey-…`;
  // a short-term key is `bedrock-api-key-` + the base64 of a presigned `bedrock.amazonaws.com/…` URL.
  { kind: 'aws-bedrock-api-key', re: /\bABSKQmVkcm9ja0FQSUtleS[A-Za-z0-9+/]{20,}={0,2}/g, group: 0, keywords: ['absk'] },
  { kind: 'aws-bedrock-api-key', re: /\bbedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%_-]{20,}/g, group: 0, keywords: ['bedrock-api-key-'] },
  // Airtable, "Personal access tokens": `pat` + a 14-character id, `.`, and a 64-hex-digit secret.
  { kind: 'airtable-pat', re: /\bpat[A-Za-z0-9]{14}\.[a-f0-9]{64}\b/g, group: 0, keywords: ['pat'] },
  // JFrog Artifactory: an API key is `AKCp` + 69 letters and digits; a reference token is the
  // base64 of `reftkn:01:…` (64 characters).
  { kind: 'artifactory-token', re: /\b(?:AKCp[A-Za-z0-9]{69}|cmVmdGtuOjAxOj[A-Za-z0-9]{50})\b/g, group: 0, keywords: ['akcp', 'cmvmdgtuojaxoj'] },
  {
    kind: 'aws-secret-key',
    re: /(?:aws|AWS)[A-Za-z_]{0,20}(?:secret|SECRET)[A-Za-z_]{0,20}["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/g,
    group: 1,
    keywords: ['aws'],
    accept: (m) => !isPlaceholder(m[1]!),
  },
  { kind: 'url-credentials', re: /\b[a-z][a-z0-9+.-]{1,20}:\/\/[^\s:/@'"]+:([^\s@/'"]+)@/gi, group: 1, anchor: /:\/\/[^\s:/@'"]+:[^\s@/'"]+@/g },
  { kind: 'auth-header', re: /\b(?:Bearer|Basic|Token)\s+([A-Za-z0-9._~+/=-]{16,})/g, group: 1, keywords: ['bearer', 'basic', 'token'] },
  {
    // KEY=value, KEY: value, "key": "value" for keys named like secrets. Groups: 3 key, 5/6/7 value.
    kind: 'secret-assignment',
    re: new RegExp(`${LEAD}(?:export[ \\t]+)?(["']?)(${SECRET_KEY})\\2(${SEPARATOR})(?:"([^"\\n]*)"|'([^'\\n]*)'|([^\\s'"\`,;(){}\\[\\]<>#]+))`, 'gim'),
    group: -1,
    keywords: ['secret', 'token', 'pass', 'pwd', 'key', 'credential'],
    accept: (m) => {
      const value = m[5] ?? m[6] ?? m[7] ?? '';
      if (isPlaceholder(value) || value.includes('[REDACTED')) return false;
      if (NOT_SECRET_KEY_PARTS.test(m[3]!)) return false;
      const upperKey = /^[A-Z0-9_.-]+$/.test(m[3]!);
      // In code, `password = getPassword()` or `token: string` is not a secret; in .env style it is.
      return !(m[7] !== undefined && !upperKey && (looksLikeCode(value) || value.length < 8));
    },
  },
  {
    // Any assignment of a long, high-entropy quoted value, whatever its key is called. Groups: 3 key, 6 value.
    // (Not a lookbehind anchored on the value: V8 runs a lookbehind's `[ \t]*` backwards from every
    // quote, quadratic on a long run of spaces.)
    kind: 'high-entropy-assignment',
    re: new RegExp(`${LEAD}(["']?)([A-Za-z_][A-Za-z0-9_.-]*)\\2(${SEPARATOR})(["'])([A-Za-z0-9+/=_-]{24,512})\\5`, 'gm'),
    group: 6,
    anchor: /["'][A-Za-z0-9+/=_-]{24}/g,
    accept: (m) => !NOT_SECRET_KEYS.test(m[3]!) && !/^sha(1|256|384|512)-/.test(m[6]!) && highEntropy(m[6]!) && !isPlaceholder(m[6]!),
  },
];

/** The secret's [start, end) in a match of a Kairos rule. group -1: whichever value group matched (5, 6 or 7). */
export function kairosSecretRange(rule: KairosRule, m: RegExpExecArray & { indices?: Array<[number, number] | undefined> }): [number, number] | undefined {
  if (rule.group === 0) return [m.index, m.index + m[0].length];
  const groups = rule.group === -1 ? [5, 6, 7] : [rule.group];
  for (const g of groups) {
    const r = m.indices?.[g];
    if (r) return r;
  }
  return undefined;
}
