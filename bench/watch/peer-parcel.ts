/**
 * Raw @parcel/watcher on the inotify backend, as a process of its own so its RSS, CPU and inotify
 * watches can be read from /proc. Usage: node peer-parcel.js <root> [--print] [--ignore rel ...]
 * Prints "ready" once subscribed; with --print, every event path (relative) on its own line.
 */
import path from 'node:path';
import parcel from '@parcel/watcher';

const [root, ...rest] = process.argv.slice(2);
const print = rest.includes('--print');
const ignore = rest.filter((a, i) => rest[i - 1] === '--ignore').map((rel) => path.join(root!, rel));
let events = 0;
await parcel.subscribe(
  root!,
  (err, evs) => {
    if (err) process.stderr.write(`${err.message}\n`);
    events += evs.length;
    if (print) process.stdout.write(evs.map((e) => `${e.type} ${path.relative(root!, e.path)}\n`).join(''));
  },
  { backend: 'inotify', ignore },
);
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  process.stderr.write(`events ${events}\n`);
  process.exit(0);
});
