import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { applyResultBudget, spillFileName, spillInfo } from '../../src/agent/compress/result-budget.js';
import { pairingProblems } from '../../src/agent/compress/pairing.js';
import { estimateTextTokens } from '../../src/agent/compress/tokens.js';
import { tempDir } from '../support/temp.js';
import { buildConversation, cmd, deepFreeze, numberedLines, read, resultText } from '../fixtures/transcripts/build.js';

const tmp = tempDir('kairos-compress-budget-');
after(() => tmp.cleanup());
const limits = { maxResultTokens: 1_000, previewTokens: 200 };

describe('stage 1: result budget', () => {
  const bigLog = numberedLines('build', 800); // ~17k tokens
  const conv = () =>
    deepFreeze(
      buildConversation('fix the build', [
        { text: 'run it', calls: [cmd('npm run build', bigLog)] },
        { calls: [read('src/a.ts', 'export const a = 1;\n')] },
      ]),
    );

  test('spills an oversized result to a content-named file and leaves head, tail and the path', () => {
    const spillDir = path.join(tmp.dir, 'spill-1');
    const input = conv();
    const { messages, changed } = applyResultBudget(input, { ...limits, spillDir });
    assert.equal(changed, 1);
    const file = path.join(spillDir, spillFileName(bigLog));
    assert.equal(fs.readFileSync(file, 'utf8'), bigLog, 'the full text is on disk, byte for byte');
    const preview = resultText(messages, 'toolu_t0001')!;
    assert.ok(preview.includes(file), 'the preview names the file');
    assert.match(preview, /read it with read_file/);
    assert.match(preview, /build line 00001 /, 'head kept');
    assert.match(preview, /build line 00800 /, 'tail kept');
    assert.doesNotMatch(preview, /build line 00400 /, 'the middle is gone from context');
    assert.ok(estimateTextTokens(preview) <= limits.maxResultTokens, 'the preview is within budget');
    assert.deepEqual(spillInfo(preview), { path: file, tokens: estimateTextTokens(bigLog).toLocaleString('en') });
    // The small result and the other messages are the very same objects: nothing copied, nothing touched.
    assert.equal(messages[3], input[3]);
    assert.equal(messages[4], input[4]);
    assert.deepEqual(pairingProblems(messages), []);
  });

  test('keeps results under the budget as they are', () => {
    const input = deepFreeze(buildConversation('t', [{ calls: [read('src/a.ts', numberedLines('a', 40))] }]));
    const { messages, changed } = applyResultBudget(input, { ...limits, spillDir: path.join(tmp.dir, 'spill-2') });
    assert.equal(changed, 0);
    assert.deepEqual(messages, input);
    assert.equal(fs.existsSync(path.join(tmp.dir, 'spill-2')), false, 'nothing written');
  });

  test('is idempotent: a second pass changes nothing and writes no new file', () => {
    const spillDir = path.join(tmp.dir, 'spill-3');
    const once = applyResultBudget(conv(), { ...limits, spillDir });
    const twice = applyResultBudget(deepFreeze(once.messages), { ...limits, spillDir });
    assert.equal(twice.changed, 0);
    assert.deepEqual(twice.messages, once.messages);
    assert.equal(fs.readdirSync(spillDir).length, 1);
  });

  test('the same output twice is one file; error flag, id and images are kept', () => {
    const spillDir = path.join(tmp.dir, 'spill-4');
    const image = { type: 'image' as const, source: { type: 'base64' as const, media_type: 'image/png' as const, data: 'iVBORw0KGgo=' } };
    const input = deepFreeze(
      buildConversation('t', [
        { calls: [{ ...cmd('npm test', bigLog), isError: true }, cmd('npm test -- --watch=false', bigLog)] },
        { calls: [{ name: 'screenshot', input: {}, output: [{ type: 'text', text: bigLog }, image] }] },
      ]),
    );
    const { messages, changed } = applyResultBudget(input, { ...limits, spillDir, showPath: (p) => path.relative(tmp.dir, p) });
    assert.equal(changed, 3);
    assert.deepEqual(fs.readdirSync(spillDir), [spillFileName(bigLog)]);
    const results = messages[2]!.content as Array<{ type: string; is_error?: boolean; tool_use_id: string; content: unknown }>;
    assert.equal(results[0]!.is_error, true);
    assert.equal(results[0]!.tool_use_id, 'toolu_t0001');
    assert.ok(String(results[0]!.content).includes(`spill-4/${spillFileName(bigLog)}`), 'showPath decides how the path reads');
    assert.ok(!String(results[0]!.content).includes(tmp.dir), 'and the absolute path is not shown');
    const withImage = (messages[4]!.content as Array<{ content: Array<{ type: string }> }>)[0]!.content;
    assert.deepEqual(withImage.map((b) => b.type), ['text', 'image']);
    assert.deepEqual(pairingProblems(messages), []);
  });
});
