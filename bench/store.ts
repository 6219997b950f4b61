/**
 * The store at scale (issue 11, item 8). For each build given (this one, and e.g. main built elsewhere,
 * measured in the same run), with 1,000 and with 1,000,000 events already stored:
 *  - event → trigger start: a file written in the repository until its task is marked running, minus settle_ms;
 *  - the listings at 1,000,000: `kairos events --limit 50 [--type …]`, `tasks`, `status`, timed as the query
 *    the CLI runs (in-process, the store opened as the CLI opens it) and as the status round trip over the socket;
 *  - with --prune: a retention prune of 1,000,000 old events under the running daemon, with event → trigger
 *    latency sampled while it runs (this build only: main has no retention).
 * Run: node dist/bench/store.js [--quick] [--prune | --prune-only] [--build NAME=/abs/path/to/dist ...]
 * Each build's own store code (dist/src/store/*.js) is used for its own numbers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { makeHome, waitFor } from '../test/support/kairos.js';
import { makeRepo, type TestRepo } from '../test/support/git-repo.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const pruneOnly = args.includes('--prune-only');
const withPrune = pruneOnly || args.includes('--prune');
const SAMPLES = quick ? 10 : 40;
const SIZES = quick ? [1_000, 100_000] : [1_000, 1_000_000];
const SETTLE = 200;
const here = path.dirname(fileURLToPath(import.meta.url));
const builds: Array<{ name: string; dist: string }> = [{ name: 'this', dist: path.resolve(here, '..') }];
for (let i = 0; i < args.length; i++) {
  if (args[i] !== '--build') continue;
  const [name, dist] = (args[i + 1] ?? '').split('=');
  if (!name || !dist || !cliEntryOf(dist)) throw new Error(`--build NAME=/path/to/dist: no dist/bin/kairos.js (or the older dist/src/cli/main.js) under '${dist}'`);
  builds.push({ name, dist: path.resolve(dist) });
}

const POLICY = (retention: string): string => `
triggers:
  - name: save
    on: { fs: ["lat/**"] }
    settle_ms: ${SETTLE}
    run: 'true'
    notify: never
${retention}`;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

interface Daemon {
  proc: ChildProcess;
  exited: Promise<number | string>;
  stop(): Promise<void>;
}

/** A build's CLI entry: dist/bin/kairos.js, or dist/src/cli/main.js for builds from before the bin moved. */
function cliEntryOf(dist: string): string | undefined {
  return [path.join(dist, 'bin', 'kairos.js'), path.join(dist, 'src', 'cli', 'main.js')].find((f) => fs.existsSync(f));
}

async function startDaemon(dist: string, repo: string, env: NodeJS.ProcessEnv, home: string): Promise<Daemon> {
  const proc = spawn(process.execPath, [cliEntryOf(dist)!, 'run', '--repo', repo], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | string>((r) => proc.on('exit', (c, s) => r(c ?? s ?? -1)));
  const { callDaemon } = (await import(path.join(dist, 'src', 'cli', 'control-client.js'))) as typeof import('../src/cli/control-client.js');
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(
    async () => {
      if (gone) throw new Error(`daemon exited during start:\n${err.slice(-2000)}`);
      return callDaemon(home, 'status', {}, 2000).then(() => true, () => false);
    },
    { timeoutMs: 300_000, what: 'daemon ready' },
  );
  return {
    proc,
    exited,
    stop: async () => {
      proc.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`daemon exited ${code}:\n${err.slice(-2000)}`);
    },
  };
}

/**
 * Fills the store the way a long-lived daemon leaves it: events in batches of 10 (every event in
 * batch_events), one finished task per batch. Rows are `daysOld` days old.
 */
function populate(file: string, repo: string, events: number, daysOld: number): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const at = (i: number): string => new Date(Date.now() - daysOld * 86_400_000 + i).toISOString();
  const insEvent = db.prepare("INSERT INTO events (type, repo, at, path, origin, data, settled_at) VALUES (?, ?, ?, ?, 'user', '{}', ?)");
  const insBatch = db.prepare("INSERT INTO batches (repo, trigger, created_at, event_count, paths) VALUES (?, 'save', ?, 10, '[]')");
  const insLink = db.prepare("INSERT INTO batch_events (batch_id, event_id, trigger) VALUES (?, ?, 'save')");
  const insTask = db.prepare("INSERT INTO tasks (repo, trigger, kind, batch_id, state, created_at, started_at, finished_at, command, exit_code) VALUES (?, 'save', 'command', ?, 'done', ?, ?, ?, 'true', 0)");
  const CHUNK = 100_000;
  for (let start = 0; start < events; start += CHUNK) {
    db.transaction(() => {
      let batch = 0;
      for (let i = start; i < Math.min(events, start + CHUNK); i++) {
        const type = i % 97 === 0 ? 'git.commit' : i % 3 ? 'file.changed' : 'file.added';
        const id = Number(insEvent.run(type, repo, at(i), type === 'git.commit' ? null : `src/d${i % 500}/f${i}.ts`, at(i)).lastInsertRowid);
        if (i % 10 === 0) {
          batch = Number(insBatch.run(repo, at(i)).lastInsertRowid);
          insTask.run(repo, batch, at(i), at(i), at(i));
        }
        insLink.run(batch, id);
      }
    })();
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

async function latencySamples(home: string, repo: TestRepo, n: number, label: string): Promise<number[]> {
  const db = new Database(path.join(home, 'kairos.db'), { readonly: true });
  const lastStart = db.prepare("SELECT started_at FROM tasks WHERE trigger = 'save' AND started_at IS NOT NULL ORDER BY id DESC LIMIT 1").pluck();
  const busy = db.prepare("SELECT count(*) FROM tasks WHERE trigger = 'save' AND state IN ('queued', 'running')").pluck();
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const wrote = Date.now();
      repo.write(`lat/${label}-${i}.txt`, String(i));
      const started = await waitFor(
        () => {
          const s = lastStart.get() as string | undefined;
          return s && Date.parse(s) >= wrote ? s : undefined;
        },
        { intervalMs: 5, timeoutMs: 60_000, what: `latency sample ${i}` },
      );
      out.push(Date.parse(started) - wrote - SETTLE);
      await waitFor(() => busy.get() === 0, { intervalMs: 10, timeoutMs: 60_000, what: 'task done' });
    }
  } finally {
    db.close();
  }
  return out;
}

/** Median of `runs` timings of fn, in ms (one warm-up run first). */
function timeIt(fn: () => unknown, runs = 15): number {
  fn();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return Math.round(percentile(ts, 50) * 100) / 100;
}

async function listingTimings(dist: string, home: string, repo: string): Promise<Record<string, number>> {
  const { openDb } = (await import(path.join(dist, 'src', 'store', 'db.js'))) as typeof import('../src/store/db.js');
  const { EventStore } = (await import(path.join(dist, 'src', 'store', 'event-store.js'))) as typeof import('../src/store/event-store.js');
  const { TaskStore } = (await import(path.join(dist, 'src', 'store', 'task-store.js'))) as typeof import('../src/store/task-store.js');
  const { callDaemon } = (await import(path.join(dist, 'src', 'cli', 'control-client.js'))) as typeof import('../src/cli/control-client.js');
  const db = openDb(path.join(home, 'kairos.db'));
  try {
    const events = new EventStore(db);
    const tasks = new TaskStore(db);
    const out: Record<string, number> = {
      events_limit50_ms: timeIt(() => events.list({ limit: 50 })),
      events_type_commit_ms: timeIt(() => events.list({ limit: 50, types: ['git.commit'] })),
      events_type_two_ms: timeIt(() => events.list({ limit: 50, types: ['git.commit', 'manual'] })),
      // A type with no rows at all: without an index this reads every row.
      events_type_rare_ms: timeIt(() => events.list({ limit: 50, types: ['manual'] }), 5),
      events_repo_type_ms: timeIt(() => events.list({ limit: 50, repo, types: ['git.commit'] })),
      tasks_limit50_ms: timeIt(() => tasks.list({ limit: 50 }).map((t) => (t.batch_id ? tasks.batchPaths(t.batch_id) : []))),
      tasks_repo_ms: timeIt(() => tasks.list({ limit: 50, repo })),
      queued_ms: timeIt(() => tasks.queued()),
    };
    const rt: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      await callDaemon(home, 'status', {}, 30_000);
      rt.push(performance.now() - t0);
    }
    out.status_roundtrip_ms = Math.round(percentile(rt, 50) * 100) / 100;
    return out;
  } finally {
    db.close();
  }
}

async function measure(build: { name: string; dist: string }, size: number): Promise<Record<string, number>> {
  const h = makeHome(POLICY(''));
  const repo = makeRepo();
  try {
    fs.mkdirSync(path.join(repo.dir, 'lat'));
    // Once to let this build create its own schema, then the rows go straight into SQLite.
    await (await startDaemon(build.dist, repo.dir, h.env, h.home)).stop();
    const t0 = Date.now();
    populate(path.join(h.home, 'kairos.db'), repo.dir, size, 1);
    process.stdout.write(`  [${build.name}] ${size.toLocaleString('en')} events stored in ${Date.now() - t0} ms; `);
    const t1 = Date.now();
    const d = await startDaemon(build.dist, repo.dir, h.env, h.home);
    process.stdout.write(`ready in ${Date.now() - t1} ms\n`);
    try {
      const lat = await latencySamples(h.home, repo, SAMPLES, `${build.name}-${size}`);
      const out: Record<string, number> = { latency_p50_ms: percentile(lat, 50), latency_p99_ms: percentile(lat, 99) };
      if (size === SIZES.at(-1)) Object.assign(out, await listingTimings(build.dist, h.home, repo.dir));
      return out;
    } finally {
      await d.stop();
    }
  } finally {
    repo.cleanup();
    h.cleanup();
  }
}

/** This build only: prune 1,000,000 old events under the running daemon, sampling latency meanwhile. */
async function measurePrune(dist: string, size: number): Promise<Record<string, number>> {
  const h = makeHome(POLICY('retention: { events_days: 30, tasks_days: 30 }\n'));
  const repo = makeRepo();
  try {
    fs.mkdirSync(path.join(repo.dir, 'lat'));
    await (await startDaemon(dist, repo.dir, h.env, h.home)).stop();
    populate(path.join(h.home, 'kairos.db'), repo.dir, size, 60);
    const sizeBefore = fs.statSync(path.join(h.home, 'kairos.db')).size;
    const d = await startDaemon(dist, repo.dir, h.env, h.home);
    const { callDaemon } = (await import(path.join(dist, 'src', 'cli', 'control-client.js'))) as typeof import('../src/cli/control-client.js');
    try {
      let done = false;
      const t0 = performance.now();
      const pruned = callDaemon(h.home, 'prune', {}, 600_000).finally(() => (done = true)) as Promise<Record<string, number>>;
      const lat: number[] = [];
      let i = 0;
      while (!done) lat.push(...(await latencySamples(h.home, repo, 1, `prune-${i++}`)));
      const r = await pruned;
      const wall = performance.now() - t0;
      const db = new Database(path.join(h.home, 'kairos.db'), { readonly: true });
      const left = db.prepare('SELECT count(*) FROM events').pluck().get() as number;
      db.close();
      return {
        prune_events: r.events!,
        prune_tasks: r.tasks!,
        prune_ms: Math.round(wall),
        prune_longest_chunk_ms: r.longest_chunk_ms!,
        prune_vacuumed_mb: Math.round((r.vacuumed_pages! * 4096) / 1048576),
        store_mb_before: Math.round(sizeBefore / 1048576),
        events_left: left,
        events_stored_during_prune: r.max_event_id_after! - r.max_event_id_before!,
        during_prune_samples: lat.length,
        during_prune_latency_p50_ms: lat.length ? percentile(lat, 50) : -1,
        during_prune_latency_p99_ms: lat.length ? percentile(lat, 99) : -1,
      };
    } finally {
      await d.stop();
    }
  } finally {
    repo.cleanup();
    h.cleanup();
  }
}

export async function main(): Promise<void> {
  const rows: Array<{ build: string; size: number; m: Record<string, number> }> = [];
  for (const size of pruneOnly ? [] : SIZES) {
    for (const b of builds) rows.push({ build: b.name, size, m: await measure(b, size) });
  }
  if (rows.length) {
    process.stdout.write(`\nstore at scale: event → trigger start beyond settle_ms (${SETTLE} ms), ${SAMPLES} samples; listings as query time (median of 15)\n`);
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r.m)))];
    process.stdout.write(`  ${'build'.padEnd(8)} ${'events'.padStart(10)}  ${keys.map((k) => k.padStart(Math.max(10, k.length))).join(' ')}\n`);
    for (const r of rows) {
      process.stdout.write(`  ${r.build.padEnd(8)} ${r.size.toLocaleString('en').padStart(10)}  ${keys.map((k) => String(r.m[k] ?? '').padStart(Math.max(10, k.length))).join(' ')}\n`);
    }
  }
  if (withPrune) {
    const size = SIZES.at(-1)!;
    const p = await measurePrune(builds[0]!.dist, size);
    process.stdout.write(`\nretention prune of ${size.toLocaleString('en')} events older than 30 days, daemon running:\n`);
    for (const [k, v] of Object.entries(p)) process.stdout.write(`  ${k.padEnd(30)} ${v}\n`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
