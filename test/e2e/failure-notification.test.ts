import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { scenario, waitFor, withDaemon } from '../support/kairos.js';
import { readDailyLog } from '../../src/report/daily-log.js';

interface Recorded {
  title: string;
  body: string;
}

test('a failing node --test run: the notification body is the failing assertion and where, not "# duration_ms"', async () => {
  const policy = `
triggers:
  - name: tests
    on: { fs: ["src/**", "test/**"] }
    settle_ms: 200
    run: node --test test/
    notify: on_failure
`;
  await scenario(policy, async ({ h, repo }) => {
    repo.write('package.json', '{ "type": "module" }\n');
    repo.write('src/add.js', 'export const add = (a, b) => a - b;\n');
    repo.write('test/add.test.js', "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from '../src/add.js';\ntest('adds', () => assert.equal(add(2, 3), 5));\n");
    repo.commit('add, with a bug');
    await withDaemon([repo.dir], h.env, async () => {
      repo.write('src/add.js', 'export const add = (a, b) => a - b; // still wrong\n');
      const file = path.join(h.home, 'notifications.jsonl');
      const n = await waitFor(
        () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Recorded).find((r) => r.title.includes('tests failed')) : undefined),
        { what: 'the failure notification', timeoutMs: 60_000 },
      );
      assert.ok(!n.body.includes('duration_ms'), n.body);
      assert.equal(n.body, '✖ adds: Expected values to be strictly equal: -1 !== 5\nat test/add.test.js:4:1\n1 failed, 0 passed');
      // The daily log's line for the task says it too (written before the notification is sent).
      const daily = [new Date(Date.now() - 3_600_000), new Date()].map((d) => readDailyLog(h.home, d) ?? '').join('\n'); // a run across midnight
      assert.match(daily, /`node --test test\/` failed with exit code 1 in [\d.]+ s — ✖ adds: Expected values to be strictly equal: -1 !== 5/);
    });
  });
});
