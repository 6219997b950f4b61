/**
 * The approval expiry timer sleeps until the next pending approval is due (no minute-by-minute wake-up):
 * an approval still expires on time, whether it was pending at start or queued later, and one queued
 * with an earlier expiry than the one the timer waits for re-arms it. The longest sleep is set to an
 * hour here, so only a timer armed for the due time can expire them within the test's wait.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pino } from 'pino';
import { openDb } from '../../src/store/db.js';
import { ApprovalQueue, proposalActions } from '../../src/pipeline/approvals.js';
import { startApprovalExpiry, type ApprovalExpiry } from '../../daemon/recovery.js';
import { waitFor } from '../support/kairos.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-expiry-');
after(() => tmp.cleanup());
const HOUR = 3_600_000;

describe('approval expiry (armed for the next due approval)', () => {
  test('pending at start, queued later, and queued earlier than the one waited for: each expires when due', async () => {
    const db = openDb(path.join(tmp.dir, 'kairos.db'));
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    let expiry: ApprovalExpiry | undefined;
    const queue = new ApprovalQueue(db, { ...proposalActions({ db, home: tmp.dir }), onQueued: (a) => expiry?.queued(a.expiresAt) });
    const command = (ttlMs: number): string => queue.enqueueCommand({ command: 'true', summary: `ttl ${ttlMs}`, repo: '/r', ttlMs }).approval.id;
    const expired = (id: string): Promise<true> => waitFor(() => lines.some((l) => l.includes('approval expired') && l.includes(id)) || null, { timeoutMs: 20_000, what: `approval ${id} expired` });
    try {
      const atStart = command(400);
      const late = command(HOUR);
      expiry = startApprovalExpiry(queue, log, HOUR);
      await expired(atStart);
      assert.equal(queue.get(atStart)?.state, 'expired');

      // The timer now waits for `late` (an hour away); a new approval due sooner must re-arm it.
      const sooner = command(300);
      await expired(sooner);
      assert.equal(queue.get(sooner)?.state, 'expired');
      assert.equal(queue.get(late)?.state, 'pending', 'the approval due in an hour is untouched');
    } finally {
      expiry?.stop();
      db.close();
    }
  });
});
