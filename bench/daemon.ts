/**
 * The watcher and daemon bench (issue 11, "Targets" and "Make the bench honest"). Every figure is
 * measured with its peers in the same run — raw @parcel/watcher (inotify), raw chokidar 5 and a
 * Watchman server of the bench's own when `watchman` is installed — and printed with its ratio to
 * raw parcel and PASS / FAIL against its target. A timeout or a lost path makes the figure FAILED and
 * the exit code non-zero. Not a test: numbers on a shared machine, read side by side.
 *
 * Run: npm run bench:watch -- [--quick] [--long] [--only=tree,idle,ignored,busy,latency,offline,storm]
 *   --quick  a smoke run of the bench itself (10,000 files, one round, short windows)
 *   --long   the busy folder for an hour (its CPU over the first 10 min and its RSS over the hour);
 *            without it the busy folder runs 3 min and its figures say so in their names.
 */
import { spawnSync } from 'node:child_process';
import { BUSY_SECONDS, IGNORED_FILES, quick, long, RUNS, runs, TREE_FILES } from './watch/config.js';
import { scratch } from './watch/env.js';
import { measureBusy } from './watch/busy.js';
import { measureIdle } from './watch/idle.js';
import { measureLatency } from './watch/latency.js';
import { measureOffline } from './watch/offline.js';
import { compareIgnored, measureReady, type ReadyFigures } from './watch/ready.js';
import { measureStorm } from './watch/storm.js';
import { Results } from './watch/table.js';
import { addIgnoredNodeModules, countTree, generateTree } from './watch/tree.js';

function header(text: string): void {
  process.stdout.write(`\n== ${text} (${new Date().toISOString()})\n`);
}

export async function main(): Promise<number> {
  const res = new Results();
  const hasWatchman = spawnSync('watchman', ['--version'], { encoding: 'utf8' }).status === 0;
  const machine = spawnSync('sh', ['-c', 'nproc; uptime'], { encoding: 'utf8' }).stdout.trim().replace(/\n/g, ' cores; ');
  process.stdout.write(`kairos watcher bench${quick ? ' --quick' : ''}${long ? ' --long' : ''}: ${machine}; node ${process.version}; watchman ${hasWatchman ? spawnSync('watchman', ['--version'], { encoding: 'utf8' }).stdout.trim() : 'not installed (its column is left out)'}\n`);
  const trees = scratch('tree');
  try {
    const k = (n: number): string => (n >= 1000 ? `${n / 1000}k` : String(n));
    const root = `${trees.dir}/repo`;
    let plain: ReadyFigures | undefined;
    const needTree = runs('tree') || runs('idle') || runs('ignored') || runs('busy');
    if (needTree) {
      header(`generating ${TREE_FILES.toLocaleString('en')} watched files`);
      generateTree(root, TREE_FILES);
      const c = countTree(root);
      process.stdout.write(`  ${c.files.toLocaleString('en')} files, ${c.dirs.toLocaleString('en')} folders watched\n`);
      if (runs('tree')) {
        header(`${k(TREE_FILES)} tree: ready, RSS, watches (${RUNS} rounds)`);
        plain = await measureReady(res, `${k(TREE_FILES)} tree`, root, c.dirs, RUNS, hasWatchman);
      }
      if (runs('idle')) {
        header(`${k(TREE_FILES)} tree: idle`);
        await measureIdle(res, 'idle', root, hasWatchman);
      }
      if (runs('ignored')) {
        header(`adding ${IGNORED_FILES.toLocaleString('en')} ignored files in node_modules`);
        addIgnoredNodeModules(root, IGNORED_FILES);
        const c2 = countTree(root);
        if (c2.files !== c.files) throw new Error(`the watched tree changed: ${c2.files} files`);
        header(`${k(TREE_FILES)} tree + ${k(IGNORED_FILES)} ignored: ready, RSS, watches (${RUNS} rounds)`);
        const withIgnored = await measureReady(res, `${k(TREE_FILES)} + ${k(IGNORED_FILES)} ignored`, root, c.dirs, RUNS, hasWatchman);
        if (plain && withIgnored) compareIgnored(res, `${k(IGNORED_FILES)} ignored`, plain, withIgnored);
      }
      if (runs('busy')) {
        header(`busy folder for ${BUSY_SECONDS} s in the ${k(TREE_FILES)} tree`);
        await measureBusy(res, 'busy folder', root, hasWatchman);
      }
    }
    if (runs('latency')) {
      header('event → trigger start');
      await measureLatency(res, 'latency');
    }
    if (runs('offline')) {
      header('offline recovery');
      await measureOffline(res, 'offline');
    }
    if (runs('storm')) {
      header('storm: git checkout');
      await measureStorm(res, 'storm', hasWatchman);
    }
    res.print(`Kairos beside raw @parcel/watcher (inotify), raw chokidar 5${hasWatchman ? ' and Watchman' : ''}, measured in this run${quick ? ' (--quick: NOT the targets\' sizes)' : ''}`);
  } finally {
    // After the table: deleting 500,000 files can take minutes on a loaded machine.
    trees.cleanup();
  }
  return res.failures();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = (await main()) ? 1 : 0;
}
