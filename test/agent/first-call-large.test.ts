import { test, before, after } from 'node:test';
import { startFirstCallHarness, lazyMatchesEager, type FirstCallHarness } from '../support/first-call.js';

/**
 * Time to the first model call does not grow with the repository (issue 13 item 5), at 20,000 files:
 * the same lazy-versus-eager scenario the unit suite runs on a small repository (first-call.test.ts).
 * Writing, committing, checking out and removing 20,000 files is disk-bound (a minute and more on a
 * busy machine), so this file is in the full run only (INTEGRATION in scripts/run-tests.mjs).
 */

let harness: FirstCallHarness;
before(async () => {
  harness = await startFirstCallHarness();
});
after(() => harness.close());

test('20,000 files: the first request leaves before any worktree exists; reads see the base, edits materialise it, and the proposal equals the eager path\'s', () => lazyMatchesEager(harness, 20_000));
