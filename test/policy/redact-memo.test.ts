import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactText, registerKnownSecrets, clearKnownSecrets } from '../../src/policy/redact/redact.js';
import { memoizedRedaction } from '../../src/policy/redact/redact-memo.js';

test('a remembered redaction gives what redaction gives, and a secret registered later is redacted in a text seen before', (t) => {
  t.after(() => clearKnownSecrets());
  let calls = 0;
  const memo = memoizedRedaction((s) => {
    calls++;
    return redactText(s);
  });
  const text = 'the build wrote zq81lmwpt7vk4c9d0aexbr into out.log';
  assert.equal(memo(text), redactText(text));
  assert.equal(memo(text), redactText(text));
  assert.equal(calls, 1, 'the second call is remembered');
  assert.match(memo(text), /zq81lmwpt7vk4c9d0aexbr/, 'not a secret until it is registered');

  registerKnownSecrets(['zq81lmwpt7vk4c9d0aexbr']);
  assert.doesNotMatch(memo(text), /zq81lmwpt7vk4c9d0aexbr/, 'registering a secret drops what was remembered');
  assert.equal(memo(text), redactText(text));
  assert.equal(calls, 2);
});

test('a secret in a long text (a command output) is redacted, however often it is seen', () => {
  const secret = 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
  const long = 'x'.repeat(5000) + ` token ${secret} ` + 'y'.repeat(100);
  let calls = 0;
  const memo = memoizedRedaction((s) => {
    calls++;
    return redactText(s);
  });
  for (let i = 0; i < 3; i++) assert.doesNotMatch(memo(long), new RegExp(secret));
  assert.equal(calls, 3, 'long texts are not kept');
});
