/**
 * Offline recovery, checked path by path against the store:
 *  - stopped: N files added, N changed and N deleted while the daemon is stopped (SIGTERM);
 *  - SIGKILL: N operations (adds, changes, deletes in turn), the daemon SIGKILLed halfway, the rest
 *    made while it is dead.
 * After each restart every path must be in a batch of the `all` trigger (after the restart's first
 * event id) with the right kind (the last event of a deleted path is file.removed, of the others not),
 * and no batch may hold two events of one path. A miss fails the figure loudly, with examples.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeRepo, type TestRepo } from '../../test/support/git-repo.js';
import { OFFLINE_FILES, SETTLE_MS } from './config.js';
import { kairosHome, type Home } from './env.js';
import { BenchTimeout, until } from './measure.js';
import { startKairos, type KairosDaemon } from './peers.js';
import type { Results, Target } from './table.js';

const POLICY = `
triggers:
  - name: all
    on: { fs: ["files/**"] }
    settle_ms: ${SETTLE_MS}
    run: 'true'
    notify: never
`;

type Kind = 'add' | 'change' | 'delete';

const file = (i: number): string => `files/d${Math.floor(i / 100)}/f${i}.txt`;

function maxEventId(home: string): number {
  const db = new Database(path.join(home, 'kairos.db'), { readonly: true });
  try {
    return (db.prepare('SELECT coalesce(max(id), 0) FROM events').pluck().get() as number) ?? 0;
  } finally {
    db.close();
  }
}

interface Check {
  reported: number;
  missing: string[];
  wrongKind: string[];
  twiceInBatch: number;
  twiceExamples: string[];
  notOffline: number;
}

/** What the store says about these paths since `afterId`. */
function check(home: string, afterId: number, expected: Map<string, Kind>): Check {
  const db = new Database(path.join(home, 'kairos.db'), { readonly: true });
  try {
    const batched = new Map<string, Array<{ id: number; type: string; origin: string }>>();
    const rows = db
      .prepare("SELECT e.id, e.path, e.type, e.origin FROM batch_events be JOIN events e ON e.id = be.event_id WHERE be.trigger = 'all' AND e.id > ? ORDER BY e.id")
      .all(afterId) as Array<{ id: number; path: string; type: string; origin: string }>;
    for (const r of rows) {
      const l = batched.get(r.path) ?? [];
      l.push(r);
      batched.set(r.path, l);
    }
    const twice = db
      .prepare(
        "SELECT be.batch_id AS batch, e.path AS path, group_concat(e.type || '/' || e.origin, ' + ') AS events FROM batch_events be JOIN events e ON e.id = be.event_id WHERE be.trigger = 'all' AND e.id > ? GROUP BY be.batch_id, e.path HAVING count(*) > 1",
      )
      .all(afterId) as Array<{ batch: number; path: string; events: string }>;
    const out: Check = { reported: 0, missing: [], wrongKind: [], twiceInBatch: twice.length, twiceExamples: twice.slice(0, 3).map((t) => `${t.path} in batch ${t.batch}: ${t.events}`), notOffline: 0 };
    for (const [p, kind] of expected) {
      const evs = batched.get(p);
      if (!evs?.length) {
        out.missing.push(p);
        continue;
      }
      out.reported++;
      const last = evs.at(-1)!;
      if ((kind === 'delete') !== (last.type === 'file.removed')) out.wrongKind.push(`${p} (${kind}, last event ${last.type})`);
      if (!evs.some((e) => e.origin === 'offline')) out.notOffline++;
    }
    return out;
  } finally {
    db.close();
  }
}

function applyOp(repo: TestRepo, p: string, kind: Kind, round: string): void {
  if (kind === 'delete') fs.rmSync(path.join(repo.dir, p));
  else repo.write(p, `${kind} ${round} ${p} ${'x'.repeat(kind === 'change' ? 40 : 1)}\n`);
}

async function settledAll(home: string, afterId: number, expected: Map<string, Kind>, what: string): Promise<Check> {
  let c: Check | undefined;
  try {
    await until(() => (c = check(home, afterId, expected)).missing.length === 0, what, 120_000, 250);
  } catch (e) {
    if (!(e instanceof BenchTimeout) || !c) throw e;
  }
  return c!;
}

function record(res: Results, section: string, name: string, expected: number, c: Check, ms: number, extra: string): void {
  const all: Target = { text: `= ${expected.toLocaleString('en')} (every path)`, ok: (k) => k === expected };
  const problems = [
    c.missing.length ? `${c.missing.length} path(s) never reported, e.g. ${c.missing.slice(0, 3).join(', ')}` : '',
    c.wrongKind.length ? `${c.wrongKind.length} with the wrong kind, e.g. ${c.wrongKind.slice(0, 3).join('; ')}` : '',
  ].filter(Boolean);
  res.add({ section, name: `${name}: paths reported after restart`, unit: 'paths', values: { kairos: c.reported }, target: all, ...(problems.length ? { failed: problems.join('; ') } : {}), note: `${extra}; all in batches ${Math.round(ms)} ms after ready; ${c.notOffline} had no origin:offline event (seen live)` });
  res.add({ section, name: `${name}: (batch, path) pairs with two events`, unit: 'pairs', values: { kairos: c.twiceInBatch }, target: { text: '= 0', ok: (k) => k === 0 }, ...(c.twiceExamples.length ? { note: `e.g. ${c.twiceExamples.join('; ')}` } : {}) });
}

export async function measureOffline(res: Results, section: string): Promise<void> {
  const N = OFFLINE_FILES;
  const repo = makeRepo();
  let h: Home | undefined = kairosHome(POLICY, 'native');
  let d: KairosDaemon | undefined;
  try {
    for (let i = 0; i < 4 * N; i++) repo.write(file(i), `initial ${i}\n`);
    // --- stopped ---
    try {
      d = await startKairos(repo.dir, h.env, h.home);
      const code = await d.stop('SIGTERM');
      d = undefined;
      if (code !== 0) throw new BenchTimeout(`kairos run exited ${code} on SIGTERM`);
      const before = maxEventId(h.home);
      const expected = new Map<string, Kind>();
      for (let i = 0; i < N; i++) expected.set(`files/new${Math.floor(i / 100)}/a${i}.txt`, 'add');
      for (let i = 0; i < N; i++) expected.set(file(i), 'change');
      for (let i = N; i < 2 * N; i++) expected.set(file(i), 'delete');
      for (const [p, k] of expected) applyOp(repo, p, k, 'stopped');
      d = await startKairos(repo.dir, h.env, h.home);
      const t = performance.now();
      const c = await settledAll(h.home, before, expected, 'every path changed while stopped to be batched');
      record(res, section, `stopped (${N} added, ${N} changed, ${N} deleted)`, expected.size, c, performance.now() - t, `ready in ${d.readyMs} ms`);
    } catch (e) {
      res.fail(section, `stopped: paths reported after restart`, 'paths', (e as Error).message.split('\n')[0]!);
    }
    // --- around a SIGKILL ---
    try {
      d ??= await startKairos(repo.dir, h.env, h.home);
      const before = maxEventId(h.home);
      const ops: Array<[string, Kind]> = [];
      for (let j = 0; j < N; j++) {
        const kind: Kind = (['add', 'change', 'delete'] as const)[j % 3]!;
        ops.push([kind === 'add' ? `files/kill${Math.floor(j / 100)}/b${j}.txt` : file(2 * N + j), kind]);
      }
      const half = Math.floor(N / 2);
      for (let j = 0; j < half; j++) applyOp(repo, ops[j]![0], ops[j]![1], 'kill');
      const code = await d.stop('SIGKILL');
      d = undefined;
      for (let j = half; j < N; j++) applyOp(repo, ops[j]![0], ops[j]![1], 'kill');
      d = await startKairos(repo.dir, h.env, h.home);
      const t = performance.now();
      const c = await settledAll(h.home, before, new Map(ops), 'every path changed around the SIGKILL to be batched');
      record(res, section, `SIGKILL (${N} ops, kill after ${half})`, ops.length, c, performance.now() - t, `killed (${code}); restart ready in ${d.readyMs} ms`);
    } catch (e) {
      res.fail(section, `SIGKILL: paths reported after restart`, 'paths', (e as Error).message.split('\n')[0]!);
    }
  } finally {
    await d?.stop().catch(() => undefined);
    h.cleanup();
    h = undefined;
    repo.cleanup();
  }
}
