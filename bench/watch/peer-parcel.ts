/**
 * Raw @parcel/watcher on the inotify backend (or `--backend watchman`, on the server WATCHMAN_SOCK
 * names), as a process of its own so its RSS, CPU and inotify watches can be read from /proc.
 * Usage: node peer-parcel.js <root> [--print] [--backend inotify|watchman] [--ignore rel ...]
 * Prints "ready" once subscribed; with --print, every event path (relative) on its own line.
 * With --snapshot FILE it restarts as Kairos does: once subscribed it compares the tree with FILE (when
 * it exists) before it prints "ready", and writes FILE again when stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import parcel from '@parcel/watcher';

const [root, ...rest] = process.argv.slice(2);
const print = rest.includes('--print');
const ignore = rest.filter((a, i) => rest[i - 1] === '--ignore').map((rel) => path.join(root!, rel));
const snapshot = rest.find((a, i) => rest[i - 1] === '--snapshot');
const backend = rest.find((a, i) => rest[i - 1] === '--backend') === 'watchman' ? 'watchman' : 'inotify';
let events = 0;
await parcel.subscribe(
  root!,
  (err, evs) => {
    if (err) process.stderr.write(`${err.message}\n`);
    events += evs.length;
    if (print) process.stdout.write(evs.map((e) => `${e.type} ${path.relative(root!, e.path)}\n`).join(''));
  },
  { backend, ignore },
);
if (snapshot && fs.existsSync(snapshot)) events += (await parcel.getEventsSince(root!, snapshot, { backend, ignore })).length;
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  process.stderr.write(`events ${events}\n`);
  const done = snapshot ? parcel.writeSnapshot(root!, snapshot, { backend, ignore }) : Promise.resolve('');
  void done.then(() => process.exit(0));
});
