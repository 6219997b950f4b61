import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeHome, kairosJson, spawnDaemon, waitFor, type DaemonProcess } from '../support/kairos.js';
import { makeRepo } from '../support/git-repo.js';
import { fileEvents, storeQuery } from '../support/store-query.js';

interface TaskJson { id: number; trigger: string; state: string; paths: string[]; created_at: string }

/**
 * A writer in its own process (so the test's own loop does not pace it): `count` new files in new
 * folders, at most `rate` a second, and some rewrites and deletions of earlier ones. A fixed count
 * rather than a fixed time: a busy machine writes slower, never fewer (the rate reached is printed,
 * not asserted). Prints {deleted, created, startedAt, endedAt} as JSON when done.
 */
const WRITER = `
const fs = require('fs'); const path = require('path');
const [root, count, rate] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const created = []; const deleted = new Set(); let n = 0; const t0 = Date.now();
while (n < count) {
  const due = Math.min(count, Math.floor(((Date.now() - t0) / 1000) * rate));
  for (; n < due; n++) {
    const rel = 'storm/d' + Math.floor(n / 100) + '/f' + n + '.txt';
    fs.mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), String(n));
    created.push(rel);
    if (n % 10 === 5) fs.writeFileSync(path.join(root, created[n - 5]), 'rewritten');
    if (n % 20 === 7) { const victim = created[n - 7]; fs.rmSync(path.join(root, victim), { force: true }); deleted.add(victim); }
  }
  const wait = Date.now() + 5; while (Date.now() < wait) {}
}
process.stdout.write(JSON.stringify({ created, deleted: [...deleted], startedAt: t0, endedAt: Date.now() }));
`;

function runWriter(root: string, count: number, rate: number): Promise<{ created: string[]; deleted: string[]; startedAt: number; endedAt: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', WRITER, root, String(count), String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`writer exited ${code}`))));
  });
}

function rssMb(pid: number): number {
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
}

async function stop(d: DaemonProcess): Promise<void> {
  d.kill('SIGTERM');
  await d.exited;
}

describe('file storms (real daemon, native engine)', () => {
  test('a 30 s storm of 36,000 files at up to 1,200 files/s: the stored events end true to the disk, nothing lost, no removal of a file that exists', async (t) => {
    const h = makeHome(`
triggers:
  - name: storm
    on: { fs: ["storm/**"] }
    settle_ms: 500
    run: 'true'
    notify: never
`);
    h.env.KAIROS_WATCHER = 'native';
    const repo = makeRepo();
    try {
      fs.mkdirSync(path.join(repo.dir, 'storm'));
      const d = await spawnDaemon([repo.dir], h.env);
      try {
        const rssBefore = rssMb(d.pid);
        const w = await runWriter(repo.dir, 36_000, 1200);
        const seconds = (w.endedAt - w.startedAt) / 1000;
        const rssAtEnd = rssMb(d.pid);
        const onDisk = (rel: string): boolean => fs.existsSync(path.join(repo.dir, rel));
        const touched = new Set(w.created);
        // The store's final word on each path: its last event.
        const finalState = (): Map<string, string> => {
          const m = new Map<string, string>();
          for (const e of fileEvents(h.home)) m.set(e.path, e.type);
          return m;
        };
        const wrong = (): string[] => {
          const m = finalState();
          const out: string[] = [];
          for (const rel of touched) {
            const last = m.get(rel);
            if (onDisk(rel) ? last === undefined || last === 'file.removed' : last !== undefined && last !== 'file.removed') out.push(`${rel}: ${last ?? 'no event'}, ${onDisk(rel) ? 'exists' : 'gone'}`);
          }
          return out;
        };
        // Converges once the storm's recovery crawl is stored; a timeout prints what is still wrong.
        await waitFor(() => wrong().length === 0, { what: 'stored events matching the disk', timeoutMs: 120_000 }).catch(() => assert.deepEqual(wrong().slice(0, 20), [], `${wrong().length} paths not true to the disk`));
        const events = fileEvents(h.home);
        const deleted = new Set(w.deleted);
        const falseRemovals = events.filter((e) => e.type === 'file.removed' && !deleted.has(e.path) && e.path.endsWith('.txt'));
        assert.deepEqual(falseRemovals.slice(0, 10), [], `${falseRemovals.length} removals of files that were never deleted`);
        const adds = events.filter((e) => e.type === 'file.added').length;
        await waitFor(() => kairosJson<TaskJson[]>(['tasks', '--limit', '1000'], h.env).every((x) => x.state === 'done'), { what: 'tasks done', timeoutMs: 60_000 });
        const rssAfter = rssMb(d.pid);
        t.diagnostic(`files ${w.created.length} in ${seconds.toFixed(1)} s (${Math.round(w.created.length / seconds)}/s), deleted ${deleted.size}, events ${events.length}, adds ${adds} (duplicates ${adds - w.created.length}), RSS ${rssBefore} → ${rssAtEnd} → ${rssAfter} MB`);
        assert.ok(rssAfter < rssBefore + 300, `RSS grew from ${rssBefore} to ${rssAfter} MB and stayed`);
      } finally {
        await stop(d);
      }
    } finally {
      repo.cleanup();
      h.cleanup();
    }
  });

  test('a storm longer than the hold ceiling releases its batch as it stands, and the rest follows', async () => {
    const h = makeHome(`
triggers:
  - name: storm
    on: { fs: ["storm/**"] }
    settle_ms: 300
    run: 'true'
    notify: never
`);
    Object.assign(h.env, { KAIROS_WATCHER: 'native', KAIROS_STORM_CEILING_MS: '2000' });
    const repo = makeRepo();
    try {
      fs.mkdirSync(path.join(repo.dir, 'storm'));
      const d = await spawnDaemon([repo.dir], h.env);
      try {
        const w = await runWriter(repo.dir, 18_000, 1500);
        // The normal max wait is 30 s and the stream never paused for 300 ms: only the 2 s ceiling can have released a batch this early.
        const firstBatch = storeQuery<{ created_at: string }>(h.home, "SELECT created_at FROM batches WHERE trigger = 'storm' ORDER BY id LIMIT 1")[0];
        assert.ok(firstBatch && Date.parse(firstBatch.created_at) < w.endedAt, 'no batch released while the storm went on');
        const existing = w.created.filter((rel) => fs.existsSync(path.join(repo.dir, rel)));
        await waitFor(() => {
          const batched = new Set(kairosJson<TaskJson[]>(['tasks', '--limit', '1000'], h.env).flatMap((x) => x.paths));
          return existing.every((p) => batched.has(p));
        }, { what: 'every file in some batch', timeoutMs: 120_000 });
      } finally {
        await stop(d);
      }
    } finally {
      repo.cleanup();
      h.cleanup();
    }
  });
});
