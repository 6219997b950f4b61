import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { scenario, waitFor, withDaemon } from '../support/kairos.js';
import { startFakeAnthropic } from '../support/fake-anthropic.js';

/**
 * Issue 13: with presence.away_after 5s, ten saves in the first seconds after start were still
 * parked minutes later with no model call, because the wake-up check started as "away" and ran once
 * a minute. Presence is now tracked per event: the burst is parked while the user edits and decided
 * (one triage call) as soon as they count as away.
 */

const POLICY = 'models: { act: claude-sonnet-4-6, triage: claude-haiku-4-5 }\nbudget: { day_usd: 5 }\npresence: { away_after: 5s }\n';

function decisions(home: string): Array<{ outcome: string; stage: string; why: string; at: number }> {
  const db = new Database(path.join(home, 'kairos.db'), { readonly: true });
  try {
    return db.prepare('SELECT outcome, stage, why, at FROM decisions ORDER BY id').all() as Array<{ outcome: string; stage: string; why: string; at: number }>;
  } finally {
    db.close();
  }
}

test('a burst of saves right after start is parked while you edit, then triaged once you are away (away_after 5s)', async () => {
  const fake = await startFakeAnthropic();
  const arrived: number[] = [];
  fake.setFallback(() => {
    arrived.push(Date.now());
    return { text: '{"act": false, "why": "routine edits, nothing to do", "urgency": "later"}' };
  });
  try {
    await scenario(POLICY, async ({ h, repo }) => {
      h.env.ANTHROPIC_API_KEY = 'sk-ant-test-key';
      h.env.ANTHROPIC_BASE_URL = fake.url;
      await withDaemon([repo.dir], h.env, async () => {
        // No kairos command from here on: a command counts as presence. The store is read directly.
        for (let i = 0; i < 10; i++) {
          repo.write(`src/f${i}.ts`, `export const f${i} = ${i};\n`);
          await new Promise((r) => setTimeout(r, 250));
        }
        const lastSave = Date.now();
        await waitFor(() => decisions(h.home).some((d) => d.outcome === 'later'), { what: 'the burst parked while you edit', timeoutMs: 30_000 });
        // The wake-up comes from the last save's own timer: the triage request reaches the API well
        // within a minute (the old once-a-minute check never woke it at all).
        await waitFor(() => fake.messageRequests().length > 0, { what: 'a triage request after you stepped away', timeoutMs: 40_000 });
        assert.ok(arrived[0]! >= lastSave + 4_000, `triage came ${arrived[0]! - lastSave} ms after the last save: not before you counted as away`);
        assert.equal(fake.messageRequests()[0]!.body.model, 'claude-haiku-4-5');
        const ds = await waitFor(() => {
          const all = decisions(h.home);
          return all.some((d) => d.stage === 'triage') ? all : undefined;
        }, { what: 'the triage decision' });
        const triage = ds.find((d) => d.stage === 'triage')!;
        assert.equal(triage.outcome, 'sleep');
        assert.match(triage.why, /routine edits/);
        assert.ok(ds.findIndex((d) => d.outcome === 'later') < ds.indexOf(triage), 'parked first, decided after');
        assert.equal(fake.messageRequests().length, 1, 'the parked saves were decided as one item');
      });
    });
  } finally {
    await fake.close();
  }
});
