#!/usr/bin/env node
// Runs every compiled test file under dist/test.
//
//   node scripts/run-tests.mjs              every test file (what `npm test` runs)
//   node scripts/run-tests.mjs --unit       the fast part: no spawned daemon, no display, no bubblewrap-heavy suite
//   node scripts/run-tests.mjs a.test.js …  just these files
//   … --times                               also print every file's wall and CPU time (slowest CPU first)
//
// Unit files run in a few long-lived worker processes, many files each (scripts/test-pool.mjs): a Node
// start-up per file was a quarter of the unit suite's CPU. Integration files keep a process each
// (node --test), run after the unit files: daemons, sandboxes and displays are theirs alone.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readTimes, recordTimes } from './test-times-reporter.mjs';
import { runPool } from './test-pool.mjs';

// The slow part, relative to dist/test: whole folders (a trailing /) or single files. Everything else
// is a unit test. A file that spawns the daemon belongs here; --unit refuses to run one that does.
const INTEGRATION = [
  'e2e/', // the real daemon, end to end
  'adversarial/', // hostile repositories against the real daemon and sandbox
  'bench/',
  'lint/', // the linters on the whole tree (type-aware oxlint is ~15 s alone)
  'cli/', // the real CLI as a process per call, some against a started daemon
  'model/spend-property.test.js', // 1,000 sequential trials against the fake API (minutes)
  'policy/shell-explain-cli.test.js', // the CLI as a process per case
  'daemon/lock-socket.test.js',
  'report/notify-batch.test.js',
  'report/tray.test.js', // Xvfb, trayer, GTK
  'report/dbus-notify.test.js', // a private D-Bus session
  'report/speech.test.js',
  'policy/sandbox.test.js', // bubblewrap, many sandboxes each
  'policy/sandbox-limits.test.js',
  'policy/sandbox-mounts.test.js',
  'policy/sandbox-policy.test.js',
  'policy/shell-hostile.test.js',
  'policy/shell-vs-bash.test.js', // real bash in bubblewrap per table row
  'agent/workers.test.js',
  'agent/first-call-large.test.js', // 20,000 files written, committed, checked out and removed: disk-bound
];
// Unit files that need a process of their own even so, with the reason. (The worker already puts back
// what a file changes in process.env, the working folder, the umask and process signal/error listeners.)
const ALONE = new Map([
  ['git/vetted-global.test.js', "sets GIT_CONFIG_GLOBAL before importing src/git: the user's global config is read once per process"],
  // Hung once (1 full run of 4 unit runs) in a shared worker with its event loop blocked (its own
  // timeout never fired): the native watchers that earlier files started in the same process are the
  // suspect. Not reproduced yet; until it is understood, its watchers get a process to themselves.
  ['events/fs-source.test.js', 'hung once in a shared worker with its event loop blocked (native watchers; not understood yet)'],
]);
const SPAWNS_DAEMON = /\b(spawnDaemon|withDaemon)\(/;

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'support' || name === 'fixtures' ? [] : find(p);
    return name.endsWith('.test.js') ? [p] : [];
  });
}

const isIntegration = (file) => {
  const rel = relative('dist/test', file).split(sep).join('/');
  return INTEGRATION.some((entry) => (entry.endsWith('/') ? rel.startsWith(entry) : rel === entry));
};

const args = process.argv.slice(2);
const unit = args.includes('--unit');
const showTimes = args.includes('--times');
const only = args.filter((a) => !a.startsWith('--'));
let files = (only.length ? only : find('dist/test')).sort();
if (unit) {
  files = files.filter((f) => !isIntegration(f));
  const daemonic = files.filter((f) => SPAWNS_DAEMON.test(readFileSync(f, 'utf8')));
  if (daemonic.length) {
    console.error(`run-tests: these spawn the daemon, so they are not unit tests; add them to INTEGRATION in scripts/run-tests.mjs:\n  ${daemonic.join('\n  ')}`);
    process.exit(1);
  }
}
if (files.length === 0) {
  console.error('run-tests: no test files under dist/test (did the build run?)');
  process.exit(1);
}
// Slowest first (as the last run measured them): the run then ends on short files, not on a long
// one started last. Files never measured go first, as they may be slow.
const times = readTimes();
const took = (f) => times[f] ?? Infinity;
files.sort((a, b) => took(b) - took(a) || a.localeCompare(b));
// The fast-check properties run fewer cases in the fast part (every case in the full run).
const env = { ...process.env, KAIROS_TEST: '1', ...(unit ? { KAIROS_PROPERTY_RUNS: process.env.KAIROS_PROPERTY_RUNS ?? '100' } : {}) };
const relativeName = (f) => relative('dist/test', f).split(sep).join('/');
let ok = true;

const pooled = files.filter((f) => !isIntegration(f));
if (pooled.length) {
  // Two workers per core: a unit file spends most of its wall time waiting (on the git and bash it
  // started, on a watcher's settle time), so one worker per core leaves the cores idle half the time.
  const workers = Number(process.env.KAIROS_TEST_WORKERS ?? Math.max(2, availableParallelism() * 2));
  const timeoutMs = Number(process.env.KAIROS_TEST_FILE_TIMEOUT_MS ?? 600_000);
  const alone = new Set(pooled.filter((f) => ALONE.has(relativeName(f))));
  const result = await runPool(pooled, { workers, timeoutMs, env, alone });
  ok &&= result.ok;
  recordTimes(new Map([...result.perFile].map(([f, t]) => [f, t.wallMs])));
  const cpu = (t) => t.cpuMs + t.childCpuMs;
  const byCpu = [...result.perFile].sort((a, b) => cpu(b[1]) - cpu(a[1]));
  const line = ([f, t]) => `${f} ${(t.wallMs / 1000).toFixed(1)} s wall, ${(cpu(t) / 1000).toFixed(1)} s CPU (${(t.childCpuMs / 1000).toFixed(1)} s in child processes)`;
  if (showTimes) console.log(`every file, most CPU first:\n  ${byCpu.map(line).join('\n  ')}`);
  else console.log(`most CPU: ${byCpu.slice(0, 5).map(line).join('; ')}`);
}

const separate = files.filter(isIntegration);
if (separate.length) {
  // The full run keeps 2 at once: its daemons and sandboxes have timing margins sized for that (a
  // loaded machine stretches every wait in them).
  const concurrency = process.env.KAIROS_TEST_CONCURRENCY ?? 2;
  const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout'];
  reporters.push(`--test-reporter=${new URL('./test-times-reporter.mjs', import.meta.url).href}`, '--test-reporter-destination=stdout');
  const r = spawnSync(process.execPath, ['--test', ...reporters, `--test-concurrency=${concurrency}`, ...separate], { stdio: 'inherit', env });
  ok &&= r.status === 0;
}
process.exit(ok ? 0 : 1);
