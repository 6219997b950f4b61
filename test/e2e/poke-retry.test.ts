import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { kairos, kairosJson, scenario, waitFor, withDaemon } from '../support/kairos.js';
import { startFakeAnthropic } from '../support/fake-anthropic.js';
import type { SpendReport } from '../../src/model/spend-report.js';

/**
 * Issue 13: every call was labelled "ambient", so a user's poke waited out a retry-after of up to
 * 600 s. A poke's triage is now attended work: a retry-after longer than 10 s is not waited; the
 * decision says why at once, and spend --json and the daily log show the give-up under 'poke'.
 */

const POLICY = 'models: { act: claude-sonnet-4-6, triage: claude-haiku-4-5 }\nbudget: { day_usd: 5 }\n';

test('a poke does not wait out a 600 s retry-after: the decision comes back within seconds, labelled poke', async () => {
  const fake = await startFakeAnthropic({ fallback: { status: 429, retryAfter: 600 } });
  try {
    await scenario(POLICY, async ({ h, repo }) => {
      h.env.ANTHROPIC_API_KEY = 'sk-ant-test-key';
      h.env.ANTHROPIC_BASE_URL = fake.url;
      await withDaemon([repo.dir], h.env, async () => {
        const started = Date.now();
        assert.equal(kairos(['poke', '--repo', repo.dir, '--note', 'look now'], h.env).code, 0);
        const db = () => new Database(path.join(h.home, 'kairos.db'), { readonly: true });
        const decision = await waitFor(
          () => {
            const d = db();
            try {
              return d.prepare(`SELECT outcome, why FROM decisions WHERE source = 'poke'`).get() as { outcome: string; why: string } | undefined;
            } finally {
              d.close();
            }
          },
          { what: 'the poke decided', timeoutMs: 30_000 },
        );
        const elapsed = Date.now() - started;
        assert.equal(decision.outcome, 'sleep');
        assert.match(decision.why, /asked to wait 600 s; you are waiting \(poke\) waits at most 10 s, so it gave up/);
        assert.ok(elapsed < 30_000, `decided in ${elapsed} ms, not after 600 s`);
        assert.equal(fake.messageRequests().length, 1, 'one attempt, no retry after the refusal to wait');
        const spend = kairosJson<SpendReport>(['spend'], h.env);
        assert.equal(spend.by_origin.poke?.gave_up, 1);
        assert.equal(spend.by_origin.poke?.calls, 1);
        assert.equal(spend.recovery[0]?.kind, 'gave_up');
        assert.match(kairos(['logs'], h.env).stdout, /model call gave up \(poke\): claude-haiku-4-5: HTTP 429/);
      });
    });
  } finally {
    await fake.close();
  }
});
