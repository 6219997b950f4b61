import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { redact } from '../../src/policy/redact/redact.js';
import { shippedRuleSet } from '../../src/policy/redact/rule-set.js';
import { sampleRule, type RuleSample } from '../support/secret-samples.js';

/**
 * Every rule of the shipped rule set against true positives drawn from its own regex (seeded, so
 * the same strings every run): the examples are made here, not copied from anywhere.
 */

/** Rules with nothing to draw from, and why. Keep this short: a new entry needs a reason. */
const NOT_SAMPLED: Record<string, string> = {
  'pkcs12-file': 'matches file names only (a `path`, no regex): there is no text to draw or redact',
};

/** Strings drawn per rule; each is also tried in every assignment template its rule's regex accepts. */
const DRAWS_PER_RULE = 2;

describe('true positives drawn from every shipped rule', () => {
  const rs = shippedRuleSet();
  rs.compileAll();
  const samples: RuleSample[] = [];
  const unsampleable: string[] = [];
  for (const rule of rs.rules) {
    const s = sampleRule(rule, rs.global(), DRAWS_PER_RULE);
    if ('unsampleable' in s) unsampleable.push(`${rule.id}: ${s.unsampleable}`);
    else samples.push(...s);
  }

  test('every rule with a regex is sampled; only the listed ones are not', () => {
    assert.deepEqual(unsampleable, []);
    assert.deepEqual(rs.skipped.map((s) => s.id).sort(), Object.keys(NOT_SAMPLED).sort());
    const sampled = new Set(samples.map((s) => s.rule));
    assert.deepEqual(rs.rules.map((r) => r.id).filter((id) => !sampled.has(id)), []);
    assert.ok(rs.rules.length >= 200, `${rs.rules.length} rules`);
    // Most rules also accept their secret in a plain assignment (`x_token = "…"`): the templates are in use.
    const templated = new Set(samples.filter((s) => !s.context.startsWith('drawn')).map((s) => s.rule));
    assert.ok(templated.size >= rs.rules.length * 0.9, `${templated.size} of ${rs.rules.length} rules have a templated sample`);
  });

  test('every sample is redacted by its own rule, and its secret is gone', () => {
    const missed = samples.filter((c) => {
      const r = redact(c.text);
      return !r.findings.some((f) => f.kind === c.rule) || r.text.includes(c.secret);
    });
    assert.deepEqual(
      missed.map((c) => `${c.rule} (${c.context}): ${JSON.stringify(c.text.slice(0, 120))}`),
      [],
      `${missed.length} of ${samples.length} samples missed`,
    );
  });
});
