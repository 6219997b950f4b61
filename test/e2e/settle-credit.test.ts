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
    // The rounds write into folders watched from the start: a folder created while watching has its own
    // race (files written before its watch exists are found by listing it, a second later at worst),
    // which is not what this test is about.
    for (let round = 0; round < 3; round++) repo.write(`src/r${round}/.keep`, '');
    const d = await spawnDaemon([repo.dir], h.env);
    try {
      // A folder moved in whole, with a file the watcher never names: found by listing the folder when it
      // is seen, it must be reported once, not again a second later when the listing is checked (see the
      // end of the test). Made beside the work tree, so the move is one rename on one filesystem.
      const outside = fs.mkdtempSync(path.join(path.dirname(repo.dir), 'moved-in-'));
      fs.writeFileSync(path.join(outside, 'listed.ts'), 'export {};\n');
      fs.renameSync(outside, path.join(repo.dir, 'src', 'new'));
      await waitFor(() => kairosJson<TaskJson[]>(['tasks'], h.env).find((t) => t.state === 'done' && t.paths.includes('src/new/listed.ts')), { what: "the new folder's task done", timeoutMs: 60_000 });
      await fence(repo, h.home);
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
      // Nothing else about the listed file afterwards: the check of listed files (1 s after the listing)
      // once handed a file still there over as a claimed removal after the burst's memory was cleared,
      // and it came out as a spurious file.changed in a batch of its own. That check was due long before
      // the last round's fence event was stored, and the daemon runs due timers before later deliveries.
      const listedIn = kairosJson<TaskJson[]>(['tasks'], h.env).filter((t) => t.paths.includes('src/new/listed.ts'));
      assert.equal(listedIn.length, 1, `the listed file was reported again later: ${listedIn.map((t) => JSON.stringify(t.paths)).join(' + ')}`);
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
