import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { dedupeResults } from '../../src/agent/compress/dedupe.js';
import { pairingProblems } from '../../src/agent/compress/pairing.js';
import { buildConversation, cmd, deepFreeze, grep, read, resultText } from '../fixtures/transcripts/build.js';

describe('stage 2: dedupe superseded results', () => {
  const conv = () =>
    deepFreeze(
      buildConversation('find the bug', [
        { text: 'read x', calls: [read('src/x.ts', 'version 1 of x')] }, // t0001
        { calls: [cmd('npm test', 'FAIL run 1')] }, // t0002
        { calls: [read('./src/x.ts', 'version 2 of x'), grep('parse', 'src/x.ts:1:parse')] }, // t0003, t0004
        { calls: [cmd('npm  test', 'FAIL run 2'), cmd('npx tsc --noEmit', 'tsc ok')] }, // t0005, t0006
        { calls: [read('src/y.ts', 'y'), grep('parse', 'src/x.ts:1:parse')] }, // t0007, t0008
        { calls: [read('src/x.ts', 'version 3 of x')] }, // t0009
      ]),
    );

  test('keeps only the newest read of a path and the newest output of a command', () => {
    const input = conv();
    const { messages, changed } = dedupeResults(input);
    assert.equal(changed, 3);
    assert.equal(resultText(messages, 'toolu_t0001'), '[superseded: newer read of src/x.ts below]');
    assert.equal(resultText(messages, 'toolu_t0003'), '[superseded: newer read of src/x.ts below]', './src/x.ts is the same file');
    assert.equal(resultText(messages, 'toolu_t0009'), 'version 3 of x');
    assert.equal(resultText(messages, 'toolu_t0002'), '[superseded: newer output of `npm test` below]');
    assert.equal(resultText(messages, 'toolu_t0005'), 'FAIL run 2', 'whitespace in the command does not make it another command');
    assert.equal(resultText(messages, 'toolu_t0006'), 'tsc ok');
    assert.equal(resultText(messages, 'toolu_t0007'), 'y');
    assert.equal(resultText(messages, 'toolu_t0004'), 'src/x.ts:1:parse', 'grep results are not deduped (they depend on the tree)');
    assert.deepEqual(pairingProblems(messages), []);
    assert.deepEqual(messages.filter((m) => m.role === 'assistant'), input.filter((m) => m.role === 'assistant'), 'assistant turns untouched');
  });

  test('reads with other inputs (a range) are not superseded by a plain read', () => {
    const input = deepFreeze(
      buildConversation('t', [
        { calls: [{ name: 'read_file', input: { path: 'src/x.ts', lines: '1-20' }, output: 'head of x' }] },
        { calls: [read('src/x.ts', 'all of x')] },
      ]),
    );
    const { changed } = dedupeResults(input);
    assert.equal(changed, 0);
  });

  test('is idempotent and does not mutate its input', () => {
    const input = conv();
    const snapshot = structuredClone(input);
    const once = dedupeResults(input);
    const twice = dedupeResults(deepFreeze(once.messages));
    assert.equal(twice.changed, 0);
    assert.deepEqual(twice.messages, once.messages);
    assert.deepEqual(input, snapshot);
  });
});
