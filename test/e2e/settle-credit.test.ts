import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kairosJson, makeHome, spawnDaemon, waitFor } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { fence } from '../support/fence.js';

interface TaskJson { id: number; trigger: string; state: string; paths: string[] }

// Long enough for the credit to apply (CREDIT_MIN_SETTLE_MS), as the default 1500 is.
const SETTLE_MS = 1000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The settle window counts the quiet @parcel/watcher already waited before a delivery (up to 50 ms,
 * src/events/quiet-credit.ts). That credit must never split a burst: writes 30 ms apart, and a file
 * created empty whose content comes 60 ms later (the shape that split in two batches when every
 * delivery was credited), still make one batch, on the real daemon and the real watcher.
 */
test('with the watcher\'s quiet credited, writes 30 ms apart (and a file filled 60 ms after its create) still settle as one batch', async () => {
  const h = makeHome(`
triggers:
  - name: burst
    on: { fs: ["src/**"] }
    settle_ms: ${SETTLE_MS}
    run: 'true'
    notify: never
`);
  h.env.KAIROS_WATCHER = 'native';
  const repo = makeRepo();
  try {
    repo.write('README.md', 'base\n');
    const d = await spawnDaemon([repo.dir], h.env);
    try {
      let judged = 0;
      for (let round = 0; round < 3; round++) {
        const paths: string[] = [];
        const gaps: number[] = [];
        let last = performance.now();
        const step = async (ms: number): Promise<void> => {
          await sleep(ms);
          gaps.push(performance.now() - last);
          last = performance.now();
        };
        for (let i = 0; i < 6; i++) {
          if (i) await step(30);
          const rel = `src/r${round}/f${i}.ts`;
          paths.push(rel);
          if (i === 2) {
            // Created empty now, its content written 60 ms later: an add, then its write in a later delivery.
            fs.mkdirSync(path.join(repo.dir, 'src', `r${round}`), { recursive: true });
            const fd = fs.openSync(path.join(repo.dir, rel), 'w');
            await step(60);
            fs.writeSync(fd, `export const v = ${round};\n`);
            fs.closeSync(fd);
          } else repo.write(rel, `export const v${i} = ${round};\n`);
        }
        await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.state === 'done' && t.paths.includes(paths.at(-1)!)), { what: `round ${round}'s task done`, timeoutMs: 60_000 });
        // Every event of the round is stored and settled (its batch made) before the tasks are read.
        await fence(repo, h.home);
        const mine = kairosJson<TaskJson[]>(['tasks'], h.env).filter((t) => t.paths.some((p) => p.startsWith(`src/r${round}/`)));
        // A writer descheduled for longer than the window allows legitimately makes two batches: such a round says nothing.
        if (Math.max(...gaps) > SETTLE_MS - 100) continue;
        judged++;
        assert.equal(mine.length, 1, `round ${round}: one batch expected, got ${mine.map((t) => JSON.stringify(t.paths)).join(' + ')} (gaps ${gaps.map(Math.round).join(', ')} ms)`);
        assert.deepEqual([...mine[0]!.paths].sort(), [...paths].sort());
      }
      // Nothing else about the files afterwards: those found by listing a new folder were not reported
      // again as changed a second later, in a batch of their own (the recheck of listed files did that
      // once the burst's memory was cleared). Rounds 0 and 1: their rechecks (1 s after the listing) were
      // due long before the last round's fence event was stored, and the daemon runs due timers first.
      const all = kairosJson<TaskJson[]>(['tasks'], h.env);
      for (const round of [0, 1]) {
        const batches = all.filter((t) => t.paths.some((p) => p.startsWith(`src/r${round}/`)));
        assert.equal(batches.length, 1, `round ${round}'s files were reported again later: ${batches.map((t) => JSON.stringify(t.paths)).join(' + ')}`);
      }
      assert.ok(judged > 0, 'every round had the writer descheduled for longer than the settle window: nothing was judged');
    } finally {
      d.kill('SIGTERM');
      await d.exited;
    }
  } finally {
    repo.cleanup();
    h.cleanup();
  }
});
