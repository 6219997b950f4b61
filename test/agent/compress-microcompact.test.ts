import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { microcompact } from '../../src/agent/compress/microcompact.js';
import { applyResultBudget } from '../../src/agent/compress/result-budget.js';
import { pairingProblems } from '../../src/agent/compress/pairing.js';
import { tempDir } from '../support/temp.js';
import { buildConversation, cmd, deepFreeze, numberedLines, read, resultText } from '../fixtures/transcripts/build.js';

const tmp = tempDir('kairos-compress-micro-');
after(() => tmp.cleanup());

describe('stage 3: microcompact old tool results', () => {
  // Ten turns; turn i reads src/f<i>.ts. t000<i> answers turn i.
  const conv = () =>
    deepFreeze(
      buildConversation(
        'task',
        Array.from({ length: 10 }, (_, i) => ({
          text: `turn ${i + 1}: noted that f${i + 1} exports VALUE_${i + 1}`,
          calls: [i === 2 ? { ...cmd('npm test', 'boom'), isError: true } : read(`src/f${i + 1}.ts`, numberedLines(`f${i + 1}`, 30))],
        })),
      ),
    );
  const id = (turn: number) => `toolu_t${String(turn).padStart(4, '0')}`;

  test('clears results older than the last N turns to a stub naming the call and its size', () => {
    const input = conv();
    const { messages, changed } = microcompact(input, { keepRecentTurns: 3 });
    assert.equal(changed, 7);
    for (let t = 1; t <= 7; t++) assert.match(resultText(messages, id(t))!, /^\[cleared: /, `turn ${t} cleared`);
    for (let t = 8; t <= 10; t++) assert.equal(resultText(messages, id(t)), resultText(input, id(t)), `turn ${t} kept`);
    const f1Tokens = Math.ceil(numberedLines('f1', 30).length / 4);
    assert.equal(resultText(messages, id(1)), `[cleared: read_file src/f1.ts → ${f1Tokens} tokens; call the tool again if you need it]`);
    assert.equal(resultText(messages, id(3)), '[cleared: run_command "npm test" (error) → 1 tokens; call the tool again if you need it]');
    assert.deepEqual(messages.filter((m) => m.role === 'assistant'), input.filter((m) => m.role === 'assistant'), 'assistant text is never touched');
    assert.deepEqual(pairingProblems(messages), []);
  });

  test('keepRecentTurns 0 clears everything; a number above the turn count clears nothing', () => {
    assert.equal(microcompact(conv(), { keepRecentTurns: 0 }).changed, 10);
    assert.equal(microcompact(conv(), { keepRecentTurns: 10 }).changed, 0);
  });

  test('a spilled result keeps pointing at its file after it is cleared', () => {
    const spillDir = path.join(tmp.dir, 'spill');
    const big = numberedLines('log', 1_000);
    const spilled = applyResultBudget(
      buildConversation('t', [{ calls: [cmd('npm run build', big)] }, { calls: [read('a', 'a')] }]),
      { maxResultTokens: 1_000, previewTokens: 200, spillDir },
    ).messages;
    const stub = resultText(microcompact(spilled, { keepRecentTurns: 1 }).messages, id(1))!;
    assert.match(stub, /^\[cleared: run_command "npm run build" → [\d,]+ tokens; full text at .*spill\/[0-9a-f]+\.txt\]$/);
    assert.match(stub, new RegExp(`→ ${Math.ceil(big.length / 4).toLocaleString('en')} tokens`), 'the size is the original, not the preview');
  });

  test('is idempotent and does not mutate its input', () => {
    const input = conv();
    const snapshot = structuredClone(input);
    const once = microcompact(input, { keepRecentTurns: 4 });
    const twice = microcompact(deepFreeze(once.messages), { keepRecentTurns: 4 });
    assert.equal(twice.changed, 0);
    assert.deepEqual(twice.messages, once.messages);
    assert.deepEqual(input, snapshot);
  });
});
