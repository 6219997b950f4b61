import fs from 'node:fs';
import path from 'node:path';
import { packagePath } from '../core/package-root.js';
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { GIT_TRIGGER_TYPES, Policy } from './schema.js';
import { mergeUserPolicy } from './merge.js';
import { UserInputError, type KairosErrorOptions, messageOf, errnoCode } from '../core/errors.js';

/** A repository's policy file is untrusted input: refuse absurd sizes before parsing. */
const MAX_POLICY_BYTES = 1024 * 1024;

export interface PolicyProblem {
  file: string;
  /** 1-based; absent when the problem is with the file as a whole (unreadable, too large). */
  line?: number;
  col?: number;
  /** The field, e.g. `triggers[2].on.fs`; empty for the top level. */
  field: string;
  /** "<what is wrong> — <how to fix>" */
  message: string;
}

/**
 * A policy file that cannot be used. The message has one line per problem:
 * `<file>:<line>:<col>: triggers[2].on.fs: <what is wrong> — <how to fix>`.
 */
export class PolicyError extends UserInputError {
  override readonly name = 'PolicyError';
  constructor(
    readonly file: string,
    readonly problems: readonly PolicyProblem[],
    options?: KairosErrorOptions,
  ) {
    super(problems.map(formatProblem).join('\n'), options);
  }
}

function formatProblem(p: PolicyProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}:${p.col ?? 1}`;
  return `${where}: ${p.field ? `${p.field}: ` : ''}${p.message}`;
}

export interface LoadOptions {
  /**
   * A directory the file must really be inside (after resolving symlinks). Pass the repository
   * when loading `<repo>/.kairos/policy.yaml`: a cloned repository could make it a link to a
   * secret file elsewhere, whose content would then be echoed in error messages.
   */
  within?: string;
}

/** Reads and validates one policy file. Throws PolicyError. */
export function loadPolicyFile(file: string, opts: LoadOptions = {}): Policy {
  let text: string;
  try {
    if (opts.within !== undefined) {
      const real = fs.realpathSync(file);
      const root = fs.realpathSync(opts.within);
      if (real !== root && !real.startsWith(root + path.sep)) {
        throw new PolicyError(file, [{ file, field: '', message: `the file is a link to ${real}, outside ${root} — a repository's policy must be a regular file inside the repository` }]);
      }
    }
    const size = fs.statSync(file).size;
    if (size > MAX_POLICY_BYTES) {
      throw new PolicyError(file, [{ file, field: '', message: `the file is ${size} bytes, larger than the 1 MiB a policy may be — a policy file is a short YAML file; check the path` }]);
    }
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof PolicyError) throw e;
    const code = errnoCode(e) ?? messageOf(e);
    throw new PolicyError(file, [{ file, field: '', message: `cannot read the file (${code}) — check that the path exists and is a readable file` }], { cause: e });
  }
  return parsePolicyText(text, file);
}

/** Parses and validates policy YAML; `fileLabel` names the file in error messages. Throws PolicyError. */
export function parsePolicyText(text: string, fileLabel: string): Policy {
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES) {
    throw new PolicyError(fileLabel, [{ file: fileLabel, field: '', message: 'the policy is larger than 1 MiB — a policy file is a short YAML file' }]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new PolicyError(
      fileLabel,
      doc.errors.map((e) => ({
        file: fileLabel,
        line: e.linePos?.[0].line ?? 1,
        col: e.linePos?.[0].col ?? 1,
        field: '',
        message: `YAML syntax error: ${firstLine(e.message)} — ${YAML_FIXES[e.code] ?? 'fix the YAML syntax (indentation, quotes, colons)'}`,
      })),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (e) {
    throw new PolicyError(fileLabel, [{ file: fileLabel, line: 1, col: 1, field: '', message: `cannot read the YAML: ${firstLine(messageOf(e))} — remove anchors/aliases and write the values out` }], { cause: e });
  }
  const result = Policy.safeParse(data);
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap((issue) => describeIssue(issue, data, doc, lineCounter, fileLabel));
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
  const seen = new Set<string>();
  throw new PolicyError(
    fileLabel,
    problems.filter((p) => {
      const key = formatProblem(p);
      return seen.has(key) ? false : (seen.add(key), true);
    }),
  );
}

/** `$KAIROS_HOME/policy.yaml`. */
export function userPolicyPath(home: string): string {
  return path.join(home, 'policy.yaml');
}

/**
 * The shipped policy packs: policies/ in the package root (src/core/package-root.ts), so it works from
 * src/ under tsx, from dist/src/ and from the bundle.
 */
export function shippedPolicyPath(name = 'default'): string {
  return packagePath('policies', `${name}.yaml`);
}

/**
 * The user's policy: the shipped default, with `$KAIROS_HOME/policy.yaml` merged over it when that
 * file exists (see mergeUserPolicy). Throws PolicyError when either file is invalid.
 */
export function loadPolicyOrDefault(home: string): Policy {
  const shipped = loadPolicyFile(shippedPolicyPath('default'));
  const userFile = userPolicyPath(home);
  if (!fs.existsSync(userFile)) return shipped;
  return mergeUserPolicy(shipped, loadPolicyFile(userFile));
}

// ---- turning zod issues into located, actionable problems ----

type Seg = string | number;

const YAML_FIXES: Record<string, string> = {
  DUPLICATE_KEY: 'each key may appear once per mapping: remove or merge the repeated one',
  BAD_INDENT: 'indent nested entries with spaces, consistently, and close every [ and {',
  TAB_AS_INDENT: 'indent with spaces, not tabs',
  MULTIPLE_DOCS: 'a policy file holds one YAML document: remove the extra "---"',
  MISSING_CHAR: 'add the missing character: a closing quote or bracket, or ": value" after a key',
  BLOCK_AS_IMPLICIT_KEY: 'put a space after each ":" and check the indentation',
  MULTILINE_IMPLICIT_KEY: 'put a space after each ":" and quote values that contain ": "',
};

function firstLine(msg: string): string {
  return (msg.split('\n')[0] ?? msg).replace(/ at line \d+, column \d+:?$/, '');
}

function describeIssue(
  issue: z.core.$ZodIssue,
  data: unknown,
  doc: Document,
  lc: LineCounter,
  file: string,
): PolicyProblem[] {
  const at = (p: readonly Seg[], key?: string) => ({ file, ...locate(doc, lc, p, key) });
  const issuePath = issue.path.filter((s): s is Seg => typeof s !== 'symbol');
  const value = valueAt(data, issuePath);

  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(issuePath);
    return issue.keys.map((k) => {
      const guess = closest(k, known);
      const fix = guess ? `did you mean '${guess}'?` : known.length ? `remove it; allowed here: ${known.join(', ')}` : 'remove it';
      return { ...at(issuePath, k), field: fieldName([...issuePath, k]), message: `unknown key '${k}' — ${fix}` };
    });
  }
  return [{ ...at(issuePath), field: fieldName(issuePath), message: explain(issue, value, issuePath) }];
}

function explain(issue: z.core.$ZodIssue, value: unknown, p: readonly Seg[]): string {
  // The schema's own messages already say what and how to fix; those starting "is ..." are
  // about the value, so name it.
  if (issue.message.includes(' — ')) return issue.message.startsWith('is ') ? `${shown(value)} ${issue.message}` : issue.message;
  const fix = hintFor(p);
  switch (issue.code) {
    case 'invalid_type': {
      if (value === undefined) return `missing required key '${String(p[p.length - 1] ?? '')}' — ${fix}`;
      // A whole file that is not a mapping may be something else entirely (a key file): never echo it.
      const got = p.length === 0 && typeof value === 'string' ? 'text' : kindOf(value);
      return `expected ${TYPE_WORDS[issue.expected] ?? issue.expected}, got ${got} — ${fix}`;
    }
    case 'invalid_value': {
      const allowed = issue.values.map((v) => String(v));
      return `${shown(value)} is not allowed — use ${allowed.length === 1 ? allowed[0] : `one of: ${allowed.join(', ')}`}`;
    }
    case 'too_small':
      if (Array.isArray(value)) return `the list is empty — ${fix}`;
      if (typeof value === 'string') return `the text is empty — ${fix}`;
      return `${shown(value)} is below the minimum ${String(issue.minimum)} — ${fix}`;
    case 'too_big':
      return `${shown(value)} is above the maximum ${String(issue.maximum)} — ${fix}`;
    case 'invalid_key':
      return `'${String(p[p.length - 1])}' is not a valid name — ${firstLine(issue.issues[0]?.message ?? 'use letters, digits, ".", "_" and "-"')}`;
    case 'invalid_union':
      return `${shown(value)} does not have an allowed form — ${fix}`;
    default:
      return `${issue.message} — ${fix}`;
  }
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping (key: value lines)',
  array: 'a list',
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
};

function kindOf(v: unknown): string {
  if (v === null) return 'nothing (an empty value)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `text ${shown(v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return String(v);
  return typeof v;
}

/** Values are echoed only short and clipped: a repository file could be a symlink to a secret. */
function shown(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 30 ? `${v.slice(0, 27)}...` : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return kindOf(v);
}

function hintFor(p: readonly Seg[]): string {
  const names = p.filter((s): s is string => typeof s === 'string');
  const last = names[names.length - 1];
  const parent = names[names.length - 2];
  const lastIsIndex = typeof p[p.length - 1] === 'number';
  if (p.length === 0) return 'a policy file is a mapping with keys such as triggers:, permissions:, budget:';
  if (last === 'triggers') return lastIsIndex ? 'each trigger is a mapping: "- name: tests", then "on:", "run:" indented below it' : 'write a list of triggers, each beginning "- name: ..."';
  if (last === 'permissions') return 'write a mapping with allow:, ask: and deny: lists of rules';
  if (parent === 'permissions') {
    return 'write a list of rules, e.g. allow: ["Bash(npm test)", "Read(src/**)"]';
  }
  const byName: Record<string, string> = {
    on: 'write a mapping, e.g. on: {fs: ["src/**"]} or on: {git: [commit]}',
    fs: 'write a list of globs relative to the repository, e.g. fs: ["src/**/*.ts"]',
    git: `write a list of git event types from: ${GIT_TRIGGER_TYPES.join(', ')}`,
    cron: 'write a quoted five-field cron expression, e.g. cron: "0 9 * * 1-5"',
    manual: 'write manual: true or false',
    name: 'write a short name, e.g. name: unit-tests',
    run: 'write the command as one string, e.g. run: npm test',
    ask: 'write the instruction for the agent as one string',
    ask_on: 'use ask_on: failure or ask_on: always',
    after_apply: 'use after_apply: rerun (run the command again once its fix is applied), or leave it out',
    settle_ms: 'write a whole number of milliseconds from 0 to 600000, e.g. settle_ms: 1500',
    cooldown: 'write a duration like "30s", "5m" or "2h", or a whole number of milliseconds',
    timeout: 'write a duration like "30s", "5m" or "2h", or a whole number of milliseconds',
    notify: 'use one of always, on_failure, on_change, never',
    enabled: 'write enabled: true or false',
    budget: 'write a mapping of caps in US dollars, e.g. budget: {day_usd: 2, month_usd: 20}',
    task_usd: 'write an amount in US dollars, e.g. task_usd: 0.5',
    hour_usd: 'write an amount in US dollars, e.g. hour_usd: 1',
    day_usd: 'write an amount in US dollars, e.g. day_usd: 2',
    month_usd: 'write an amount in US dollars, e.g. month_usd: 20',
    models: 'write a mapping, e.g. models: {triage: claude-haiku-4-5, act: claude-sonnet-5}',
    triage: 'write a model id, e.g. triage: claude-haiku-4-5',
    act: 'write a model id, e.g. act: claude-sonnet-5',
    overrides: 'write a mapping from trigger name to changes, e.g. overrides: {tests: {enabled: false}}',
    ignore: 'write a list of .gitignore-style patterns, e.g. ignore: ["dist/", "*.log"]',
    defaults: 'write a mapping, e.g. defaults: {settle_ms: 1500, timeout: "10m"}',
    output_limit_bytes: 'write a number of bytes from 1024 to 10000000',
    version: 'write version: 1',
  };
  if (last && parent === 'overrides') return 'write a mapping of changes, e.g. {enabled: false}';
  return (last && byName[last]) ?? 'see policies/policy.schema.json for the expected shape';
}

function fieldName(p: readonly Seg[]): string {
  let out = '';
  for (const s of p) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

function valueAt(data: unknown, p: readonly Seg[]): unknown {
  let v: unknown = data;
  for (const s of p) {
    if (v === null || typeof v !== 'object') return undefined;
    v = Reflect.get(v, s);
  }
  return v;
}

/**
 * Source position of a path: a scalar value points at the value; a mapping or list under a key
 * points at its key; a path that does not exist (a missing key) points at its nearest parent.
 * With `key`, points at that key of the mapping at `p` (for unknown keys).
 */
function locate(doc: Document, lc: LineCounter, p: readonly Seg[], key?: string): { line: number; col: number } {
  let node: unknown = doc.contents;
  let offset = (doc.contents as YamlNode | null)?.range?.[0] ?? 0;
  let complete = true;
  for (const seg of p) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
      if (!pair) {
        complete = false;
        break;
      }
      const v = pair.value;
      const keyStart = (isNode(pair.key) ? pair.key.range?.[0] : undefined) ?? offset;
      offset = isScalar(v) && v.value !== null && v.range ? v.range[0] : keyStart;
      node = v;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      if (!isNode(item) || !item.range) {
        complete = false;
        break;
      }
      offset = item.range[0];
      node = item;
    } else {
      complete = false;
      break;
    }
  }
  if (complete && key !== undefined && isMap(node)) {
    const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === key);
    const start = isNode(pair?.key) ? pair.key.range?.[0] : undefined;
    if (start !== undefined) offset = start;
  }
  return lc.linePos(offset);
}

// ---- "did you mean": the allowed keys at a path, read from the schema itself ----

/** Walks the schema itself by its classes (zod's own narrowing): no shape is assumed of it. */
function knownKeys(p: readonly Seg[]): string[] {
  let s: z.core.$ZodType | undefined = unwrap(Policy);
  for (const seg of p) {
    if (!s) return [];
    if (s instanceof z.ZodObject && typeof seg === 'string') s = s.shape[seg];
    else if (s instanceof z.ZodArray) s = s.element;
    else if (s instanceof z.ZodRecord) s = s.valueType;
    else return [];
    s = s && unwrap(s);
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function unwrap(s: z.core.$ZodType): z.core.$ZodType {
  let cur = s;
  for (let i = 0; i < 10; i++) {
    const next =
      cur instanceof z.ZodOptional || cur instanceof z.ZodDefault || cur instanceof z.ZodNullable || cur instanceof z.ZodPrefault ? cur.unwrap() : cur instanceof z.ZodPipe ? cur.in : undefined;
    if (!next) break;
    cur = next;
  }
  return cur;
}

/**
 * The valid key a typo most likely meant: the nearest by edit distance (a swap of two neighbouring
 * letters counts as one edit), within a third of the word's length. Only when nothing is that near
 * does a prefix count (`desc` for `description`), and then only an unambiguous one: a prefix
 * shortcut taken first made `ask_onn` suggest `ask` instead of `ask_on`.
 */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3))) return best;
  if (w.length < 3) return undefined;
  const prefixed = candidates.filter((c) => c.toLowerCase().startsWith(w));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps, one each. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
