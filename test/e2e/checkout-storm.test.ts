import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeHome, kairosJson, spawnDaemon, waitFor } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { fence } from '../support/fence.js';

interface TaskJson { id: number; trigger: string; state: string; paths: string[] }
interface EventJson { type: string; path?: string }

test('a checkout that touches 10,000 files yields one checkout event, one task, and every path', async () => {
  const h = makeHome(`
triggers:
  - name: changed
    on: { fs: ["big/**"] }
    settle_ms: 1500
    run: 'wc -l < "$KAIROS_CHANGED_FILES"'
    notify: never
`);
  const repo = makeRepo();
  try {
    repo.write('README.md', 'base\n');
    repo.git('add', '.');
    repo.git('commit', '-m', 'base');
    repo.git('checkout', '-b', 'big');
    for (let i = 0; i < 10_000; i++) repo.write(`big/d${i % 100}/f${i}.txt`, `${i}\n`);
    repo.git('add', '.');
    repo.git('commit', '-q', '-m', 'ten thousand files');
    repo.git('checkout', '-q', 'main');

    const d = await spawnDaemon([repo.dir], h.env);
    try {
      repo.git('checkout', '-q', 'big');
      const task = await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.state === 'done'), { what: 'task done', timeoutMs: 120_000 });
      // Any straggling event from the checkout reaches the store before the fence's (outside big/, so it
      // matches no trigger), and is settled, its batch stored, before the count.
      await fence(repo, h.home);
      const tasks = kairosJson<TaskJson[]>(['tasks'], h.env);
      assert.equal(tasks.length, 1, `expected one task, got ${tasks.length}`);
      const paths = new Set(task.paths);
      const missing: string[] = [];
      for (let i = 0; i < 10_000; i++) if (!paths.has(`big/d${i % 100}/f${i}.txt`)) missing.push(`f${i}`);
      assert.deepEqual(missing.slice(0, 10), [], `${missing.length} paths missing from the settled batch`);
      const checkouts = kairosJson<EventJson[]>(['events', '--type', 'git.checkout'], h.env);
      assert.equal(checkouts.length, 1);
    } finally {
      d.kill('SIGTERM');
      await d.exited;
    }
  } finally {
    repo.cleanup();
    h.cleanup();
  }
});
