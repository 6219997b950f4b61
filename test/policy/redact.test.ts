import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { redact, redactDeep, registerKnownSecrets, clearKnownSecrets, secretsFromEnv } from '../../src/policy/redact/redact.js';
import { compileRuleSet, shippedRuleSet } from '../../src/policy/redact/rule-set.js';
import { translateRe2, Untranslatable } from '../../src/policy/redact/re2-to-js.js';
import { KeywordIndex } from '../../src/policy/redact/keywords.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// dist/test/policy → the fixture stays in the source tree (the build does not copy JSON).
const fixture = path.resolve(here, '..', '..', '..', 'test', 'fixtures', 'secrets', 'provider-examples.json');

interface Case {
  kind: 'tp' | 'fp';
  text: string;
  /** Where the format (or the look-alike) is documented. */
  doc: string;
  /** tp: the rule (gitleaks id or Kairos kind) that must find it. */
  rule?: string;
  /** tp: what must not survive. */
  secret?: string;
  /** fp: the rule it looks like. */
  resembles?: string;
}

describe("providers' documented formats, written for Kairos (test/fixtures/secrets/provider-examples.json)", () => {
  const { cases } = JSON.parse(fs.readFileSync(fixture, 'utf8')) as { cases: Case[] };
  const tps = cases.filter((c) => c.kind === 'tp');
  const fps = cases.filter((c) => c.kind === 'fp');

  test('the set is representative: 60+ true positives across the major providers, 30+ look-alikes, each with its documentation', () => {
    assert.ok(tps.length >= 60, `${tps.length} true positives`);
    assert.ok(fps.length >= 30, `${fps.length} false positives`);
    const rules = new Set(tps.map((c) => c.rule));
    for (const r of ['github-pat', 'github-fine-grained-pat', 'gitlab-pat', 'aws-access-token', 'aws-secret-key', 'gcp-api-key', 'stripe-access-token', 'slack-bot-token', 'slack-webhook-url', 'openai-api-key', 'anthropic-key', 'npm-access-token', 'pypi-upload-token', 'jwt', 'private-key', 'generic-api-key', 'huggingface-access-token', 'twilio-api-key', 'sendgrid-api-token', 'curl-auth-header', 'url-credentials', 'secret-assignment']) {
      assert.ok(rules.has(r), `no example for ${r}`);
    }
    assert.deepEqual(cases.filter((c) => !c.doc || (c.kind === 'tp' && (!c.rule || !c.secret || !c.text.includes(c.secret)))), []);
  });

  test('every true positive is redacted by its rule, and the secret is gone', () => {
    const missed = tps.filter((c) => {
      const r = redact(c.text);
      return !r.findings.some((f) => f.kind === c.rule) || r.text.includes(c.secret!);
    });
    assert.deepEqual(missed.map((c) => `${c.rule}: ${c.text.slice(0, 80)}`), []);
  });

  test('no look-alike is redacted at all', () => {
    const hit = fps.map((c) => ({ c, r: redact(c.text) })).filter(({ c, r }) => r.text !== c.text);
    assert.deepEqual(hit.map(({ c, r }) => `${c.text} → ${r.findings.map((f) => f.kind).join(', ')}`), []);
  });
});

describe('the shipped rule set', () => {
  test('loads as data: 200+ rules, only the path-only one left out', () => {
    const rs = shippedRuleSet();
    rs.compileAll();
    assert.ok(rs.rules.length >= 200, `${rs.rules.length} rules`);
    assert.deepEqual(rs.skipped.map((s) => s.id), ['pkcs12-file']);
    assert.ok(rs.rules.every((r) => r.compiled() !== undefined));
  });

  test('a rule that cannot be translated is skipped and counted, never a crash', () => {
    const rs = compileRuleSet(
      [
        '[[rules]]\nid = "ungreedy"\nregex = \'\'\'(?U)abc\\d+\'\'\'\nkeywords = ["abc"]',
        '[[rules]]\nid = "unicode-class"\nregex = \'\'\'\\p{Greek}+\'\'\'',
        '[[rules]]\nid = "fine"\nregex = \'\'\'zzsecret_[a-z]{8}\'\'\'\nkeywords = ["zzsecret_"]',
      ].join('\n'),
      'test.toml',
    );
    rs.compileAll();
    assert.deepEqual(rs.skipped.map((s) => s.id).sort(), ['ungreedy', 'unicode-class']);
    assert.equal(redact('x zzsecret_abcdefgh abc123', { rules: rs }).text, 'x [REDACTED:fine] abc123');
  });

  test('a file that is not a rule file is a clear error naming it', () => {
    assert.throws(() => compileRuleSet('title = "x"', 'policies/secrets/broken.toml'), /broken\.toml: no \[\[rules\]\]/);
    assert.throws(() => compileRuleSet('[[rules]\n', 'policies/secrets/broken.toml'), /broken\.toml: not valid TOML/);
  });
});

describe('RE2 → JavaScript', () => {
  const js = (p: string): RegExp => {
    const t = translateRe2(p);
    return new RegExp(t.source, t.flags);
  };
  test('a leading (?i) is the i flag', () => assert.deepEqual(translateRe2('(?i)abc'), { source: 'abc', flags: 'i' }));
  test('(?i) mid-pattern holds to the end of its group, and not before', () => {
    const re = js('\\b(p8e-(?i)[a-z0-9]{4})x');
    assert.ok(re.test('p8e-AbC1x'));
    assert.ok(!re.test('P8E-abc1x'), 'the part before the setter stays case-sensitive');
    assert.ok(!re.test('p8e-abc1X'), 'the part after the group stays case-sensitive');
  });
  test('a setter in one alternative carries into the later ones only', () => {
    const re = js('^(?:a(?i)b|c)$');
    assert.ok(re.test('aB') && re.test('C') && !re.test('AB'));
  });
  test('(?-i:…) inside a case-insensitive pattern', () => {
    const re = js('(?i)key_(?-i:[A-Z]{3})');
    assert.ok(re.test('KEY_ABC') && !re.test('key_abc'));
  });
  test('\\z, (?P<name>), POSIX classes, [^]] and \\Q…\\E', () => {
    assert.ok(js('ab\\z').test('xab') && !js('ab\\z').test('abx'));
    assert.equal(js('(?P<k>a+)').exec('baa')!.groups!.k, 'aa');
    assert.ok(js('^[[:alnum:]]+$').test('aZ9') && !js('^[[:alnum:]]+$').test('a-'));
    assert.ok(js('^[^]]+$').test('abc') && !js('^[^]]+$').test('a]'));
    assert.ok(js('\\Qa.b\\E').test('a.b') && !js('\\Qa.b\\E').test('axb'));
  });
  test('what JavaScript cannot express is Untranslatable', () => {
    for (const p of ['(?U)a+', '\\pL', '\\x{1F600}', '[[:^alpha:]]']) assert.throws(() => translateRe2(p), Untranslatable, p);
  });
});

describe('keywords, entropy, allowlists', () => {
  const rs = compileRuleSet(
    `[allowlist]
stopwords = ["notreal"]
[[rules]]
id = "demo"
regex = '''demo_([a-z0-9]{12})'''
entropy = 3
keywords = ["demo_"]
[[rules.allowlists]]
regexTarget = "line"
regexes = ['''# fixture''']
[[rules]]
id = "nokeyword"
regex = '''zz[0-9]{6}'''
keywords = ["thiskeywordisabsent"]
`,
    'demo.toml',
  );
  test('a rule runs only when one of its keywords is in the text', () => {
    assert.equal(redact('zz123456', { rules: rs }).text, 'zz123456');
    assert.equal(redact('thiskeywordisabsent zz123456', { rules: rs }).text, 'thiskeywordisabsent [REDACTED:nokeyword]');
  });
  test('keywords match case-insensitively, overlapping ones too', () => {
    const k = new KeywordIndex(['abc', 'bcd', 'ab', 'key']);
    assert.deepEqual([...k.scan('xABCD KEY').keys()].sort(), ['ab', 'abc', 'bcd', 'key']);
  });
  test('entropy at or below the rule threshold is not a secret', () => {
    assert.equal(redact('demo_aaaaaaaaaaaa', { rules: rs }).text, 'demo_aaaaaaaaaaaa');
    assert.equal(redact('demo_k3j9x2m8q1w7', { rules: rs }).text, 'demo_[REDACTED:demo]');
  });
  test('rule allowlists (line target) and global stopwords are honoured', () => {
    assert.equal(redact('demo_k3j9x2m8q1w7 # fixture', { rules: rs }).text, 'demo_k3j9x2m8q1w7 # fixture');
    assert.equal(redact('demo_notreal7q1w7', { rules: rs }).text, 'demo_notreal7q1w7');
  });
  test('a gitleaks:allow comment does not switch redaction off (the line may be hostile)', () => {
    const token = 'ghp_Kx7mQ2vL9pR4sT8wY1zB3nC6dF0gH5jAdvRs';
    assert.doesNotMatch(redact(`echo ${token} # gitleaks:allow`).text, /ghp_/);
  });
});

describe('the shapes that leaked before', () => {
  test('a unified diff line: +, - and context prefixes, and KEY= after any non-word character', () => {
    for (const line of ['+API_KEY=Zq8vT2mWx9rKp4NdB7s', '-API_KEY=Zq8vT2mWx9rKp4NdB7s', ' API_KEY=Zq8vT2mWx9rKp4NdB7s', 'x=1;API_KEY=Zq8vT2mWx9rKp4NdB7s', '+  "db_password": "hunter2horse"']) {
      const out = redact(`diff --git a/.env b/.env\n${line}\n`).text;
      assert.doesNotMatch(out, /Zq8vT2mWx9rKp4NdB7s|hunter2horse/, line);
    }
  });
  test('secrets in file names (an extension, a folder around them) and before a full stop', () => {
    assert.equal(redact('keys/sk_live_51KairosFakeStripeKey0000.txt').text, 'keys/[REDACTED:stripe-access-token].txt');
    assert.doesNotMatch(redact('created ghp_Kx7mQ2vL9pR4sT8wY1zB3nC6dF0gH5jAdvRs.txt').text, /ghp_Kx7/);
    assert.equal(redact('The key is sk_live_51KairosFakeStripeKey0000.').text, 'The key is [REDACTED:stripe-access-token].');
    assert.equal(redact('src/components/Button.tsx').text, 'src/components/Button.tsx');
    const r = redact('one sk_live_51KairosFakeStripeKey0000 here');
    assert.equal(r.findings.length, 1, 'one finding per secret, whichever passes found it');
  });
  test('registered known secrets (the daemon’s own env secrets) are redacted everywhere', () => {
    after(clearKnownSecrets);
    const env = { ANTHROPIC_API_KEY: 'plain-looking-value-1', GITHUB_TOKEN: 'another-plain-value', HOME: '/home/u', SHORT_TOKEN: 'abc' };
    assert.deepEqual(secretsFromEnv(env).sort(), ['another-plain-value', 'plain-looking-value-1']);
    registerKnownSecrets(secretsFromEnv(env));
    assert.equal(redact('sent plain-looking-value-1 and another-plain-value to /home/u').text, 'sent [REDACTED:known-secret] and [REDACTED:known-secret] to /home/u');
  });
  test('redactDeep redacts strings inside values and keeps keys and other values', () => {
    const v = redactDeep({ token: 'ghp_Kx7mQ2vL9pR4sT8wY1zB3nC6dF0gH5jAdvRs', n: 3, list: ['ok', 'AKIAQZ7XK2M4PZB3LW5N'], nested: { ok: true } });
    assert.deepEqual(v, { token: '[REDACTED:github-pat]', n: 3, list: ['ok', '[REDACTED:aws-access-token]'], nested: { ok: true } });
  });
});

describe('hostile text cannot stall redaction', () => {
  // RE2 is linear; a backtracking engine is not. These shapes (a keyword on one very long line of a
  // character the rules' prefixes accept) took minutes before the rules were bounded. The limit is
  // generous: it catches a quadratic blow-up, not a slow machine.
  for (const [what, ch] of [['word characters', 'a'], ['dashes', '-'], ['dots', '.'], ['digits', '0'], ['spaces', ' ']] as const) {
    test(`one 100,000-character line of ${what} around every keyword`, () => {
      const line = ch.repeat(100_000);
      const text = `cohere meraki sumo okta private_ai api_key secret token ${line} curl -H x ${line} = ${line}`;
      const t0 = Date.now();
      redact(text);
      assert.ok(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms`);
    });
  }
});
