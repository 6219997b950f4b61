import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicyText } from '../../src/policy/load.js';
import { mergeRepoPolicy, mergeUserPolicy } from '../../src/policy/merge.js';
import type { Policy } from '../../src/policy/schema.js';

const policy = (yaml: string): Policy => parsePolicyText(yaml, 'test.yaml');

test('workers.max: a repository may lower it, trusted or not', () => {
  const user = policy('workers: {max: 4}');
  for (const trusted of [false, true]) {
    const m = mergeRepoPolicy(user, policy('workers: {max: 2}'), { trusted });
    assert.equal(m.policy.workers?.max, 2);
    assert.deepEqual(m.refused, []);
  }
});

test('workers.max: raising it is refused for an untrusted repository, allowed for a trusted one', () => {
  const user = policy('workers: {max: 4}');
  const untrusted = mergeRepoPolicy(user, policy('workers: {max: 8}'), { trusted: false });
  assert.equal(untrusted.policy.workers?.max, 4);
  assert.equal(untrusted.refused.length, 1);
  assert.match(untrusted.refused[0]!.what, /workers\.max: 8/);
  assert.equal(mergeRepoPolicy(user, policy('workers: {max: 8}'), { trusted: true }).policy.workers?.max, 8);
});

test('workers.max: without a user value the default (3) is what a repository may not exceed untrusted', () => {
  const user = policy('budget: {task_usd: 1}');
  assert.equal(mergeRepoPolicy(user, policy('workers: {max: 3}'), { trusted: false }).policy.workers?.max, 3);
  const raised = mergeRepoPolicy(user, policy('workers: {max: 5}'), { trusted: false });
  assert.equal(raised.policy.workers, undefined);
  assert.equal(raised.refused.length, 1);
});

test('workers.max: the schema bounds it to 1..8 and the user file overrides the shipped one', () => {
  assert.throws(() => policy('workers: {max: 9}'), /workers/);
  assert.throws(() => policy('workers: {max: 0}'), /workers/);
  assert.equal(mergeUserPolicy(policy('workers: {max: 3}'), policy('workers: {max: 6}')).workers?.max, 6);
});
