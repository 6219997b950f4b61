import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  compressConversation,
  compressionThreshold,
  CompressOptionsError,
  estimateTokens,
  pairingProblems,
  type Message,
} from '../../src/agent/compress.js';
import { tempDir } from '../support/temp.js';
import { buildConversation, deepFreeze, read } from '../fixtures/transcripts/build.js';
import { standardTranscripts, type Transcript } from '../fixtures/transcripts/generate.js';
import { needleState } from '../fixtures/transcripts/needles.js';

const tmp = tempDir('kairos-compress-');
after(() => tmp.cleanup());
const transcripts: Transcript[] = standardTranscripts().map((t) => ({ ...t, messages: deepFreeze(t.messages) }));
const STAGES = ['result-budget', 'dedupe', 'microcompact', 'summarise'] as const;

describe('compressConversation over long generated transcripts', () => {
  for (const t of transcripts) {
    test(`${t.name}: stages 1-3 keep every recent and assistant needle; report chains; input untouched`, async () => {
      assert.deepEqual(pairingProblems(t.messages), [], 'the fixture itself is a valid conversation');
      const snapshot = JSON.stringify(t.messages);
      const spillDir = path.join(tmp.dir, t.name);
      for (let upTo = 1; upTo <= 3; upTo++) {
        const r = await compressConversation(t.messages, { spillDir, stages: STAGES.slice(0, upTo) });
        assert.deepEqual(pairingProblems(r.messages), [], `valid after ${STAGES[upTo - 1]}`);
        for (const n of t.needles) {
          const state = needleState(r.messages, n, spillDir);
          if (n.placement === 'assistant' || n.placement === 'recent-result') assert.equal(state, 'in-context', `${n.id} after ${STAGES[upTo - 1]}`);
          if (n.placement === 'spilled') assert.equal(state, 'on-disk', `${n.id} after ${STAGES[upTo - 1]}`);
          if (n.placement === 'early-result' && upTo < 3) assert.equal(state, 'in-context', `${n.id} is only cleared by stage 3`);
        }
        if (upTo === 3) {
          // Early-only needles (a note, a file:line, an error class, a failing test, an exit code) live
          // on in the digest stage 3 leaves in place of the cleared result (issue 13: they used to be lost).
          for (const n of t.needles.filter((x) => x.placement === 'early-result')) assert.equal(needleState(r.messages, n, spillDir), 'in-context', `${n.id} after stage 3`);
          assert.ok(r.report[0]!.tokensBefore / r.report[2]!.tokensAfter >= 5, 'stages 1-3 still shrink the transcript at least 5x');
          assert.equal(r.report.length, 3);
          for (let i = 1; i < r.report.length; i++) assert.equal(r.report[i]!.tokensBefore, r.report[i - 1]!.tokensAfter);
          assert.equal(r.report[0]!.tokensBefore, estimateTokens(t.messages));
          for (const s of r.report) {
            assert.ok(s.tokensAfter <= s.tokensBefore, `${s.stage} never grows the conversation`);
            assert.ok(s.changed > 0, `${s.stage} had work to do on ${t.name}`);
          }
        }
      }
      assert.equal(JSON.stringify(t.messages), snapshot, 'the input is unchanged');
    });

    test(`${t.name}: the whole pipeline is idempotent`, async () => {
      let summaries = 0;
      const summarise = async () => {
        summaries += 1;
        return { text: JSON.stringify({ goal: 'fix the parser', files_touched: [], findings: [], open_questions: [], decisions: [] }), costMicros: 0 };
      };
      // A 32k window puts the largest transcript over the threshold even after stage 3.
      const o = { spillDir: path.join(tmp.dir, `${t.name}-idem`), contextWindow: 32_000, outputReserve: 4_000, summarise };
      const once = await compressConversation(t.messages, o);
      assert.equal(once.report.length, 4);
      assert.ok(once.report.at(-1)!.tokensAfter <= compressionThreshold({ contextWindow: 32_000, share: 0.8, outputReserve: 4_000 }));
      assert.deepEqual(pairingProblems(once.messages), []);
      const twice = await compressConversation(deepFreeze(once.messages), o);
      assert.deepEqual(twice.messages, once.messages);
      assert.deepEqual(twice.report.map((r) => r.changed), [0, 0, 0, 0]);
      assert.equal(twice.report.at(-1)!.outcome, 'under-threshold');
      assert.ok(summaries <= 1, 'stage 4 ran at most once');
    });

    test(`${t.name}: with no summariser the stub fallback is idempotent too`, async () => {
      const o = { spillDir: path.join(tmp.dir, `${t.name}-fb`), contextWindow: 16_000, outputReserve: 4_000 };
      const once = await compressConversation(t.messages, o);
      assert.equal(once.report.at(-1)!.outcome, 'fallback-no-summariser');
      const twice = await compressConversation(deepFreeze(once.messages), o);
      assert.deepEqual(twice.messages, once.messages);
      assert.deepEqual(twice.report.map((r) => r.changed), [0, 0, 0, 0]);
    });
  }
});

describe('compressConversation options and guards', () => {
  const small = (): Message[] => deepFreeze(buildConversation('t', [{ calls: [read('a.ts', 'a')] }]));

  test('rejects limits that cannot work, naming the field', async () => {
    const spillDir = path.join(tmp.dir, 'x');
    await assert.rejects(compressConversation(small(), { spillDir, maxResultTokens: 100, previewTokens: 80 }), (e: Error) => e instanceof CompressOptionsError && /previewTokens/.test(e.message));
    await assert.rejects(compressConversation(small(), { spillDir, contextWindow: 1_000, outputReserve: 2_000 }), (e: Error) => e instanceof CompressOptionsError && /outputReserve/.test(e.message));
    await assert.rejects(compressConversation(small(), { spillDir, share: 1.5 }), (e: Error) => e instanceof CompressOptionsError && /share/.test(e.message));
    await assert.rejects(compressConversation(small(), { spillDir: '' }), CompressOptionsError);
  });

  test('an injected token counter decides the threshold', async () => {
    let calls = 0;
    const counter = (m: Message[]) => {
      calls += 1;
      return estimateTokens(m) * 1_000;
    };
    const input = deepFreeze(buildConversation('t', Array.from({ length: 6 }, (_, i) => ({ text: `t${i}`, calls: [read(`f${i}.ts`, 'x'.repeat(400))] }))));
    const plain = await compressConversation(input, { spillDir: path.join(tmp.dir, 'c') });
    assert.equal(plain.report.at(-1)!.outcome, 'under-threshold');
    const counted = await compressConversation(input, { spillDir: path.join(tmp.dir, 'c'), countTokens: counter });
    assert.notEqual(counted.report.at(-1)!.outcome, 'under-threshold');
    assert.ok(calls > 0);
    assert.equal(counted.report[0]!.tokensBefore, estimateTokens(input) * 1_000);
  });

  test('pairingProblems finds what the API would reject', () => {
    const ok = buildConversation('t', [{ calls: [read('a', 'a'), read('b', 'b')] }]);
    assert.deepEqual(pairingProblems(ok), []);
    const orphan: Message[] = [ok[0]!, ok[1]!, { role: 'user', content: [(ok[2]!.content as any[])[0]] }];
    assert.match(pairingProblems(orphan).join(), /does not answer tool_use toolu_t0002/);
    const stray: Message[] = [ok[0]!, { role: 'assistant', content: 'no tools' }, ok[2]!];
    assert.match(pairingProblems(stray).join(), /tool_result toolu_t0001 with no tool_use/);
    assert.match(pairingProblems([ok[1]!, ok[2]!]).join(), /messages\[0\] is not a user message/);
  });
});
