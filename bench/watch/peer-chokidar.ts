/**
 * Raw chokidar 5, as a process of its own. Usage: node peer-chokidar.js <root> [--ignore rel ...]
 * Initial files are not emitted (ignoreInitial), as a daemon that only wants changes would run it.
 */
import path from 'node:path';
import chokidar from 'chokidar';

const [root, ...rest] = process.argv.slice(2);
const ignored = rest.filter((a, i) => rest[i - 1] === '--ignore').map((rel) => path.join(root!, rel));
const w = chokidar.watch(root!, {
  ignoreInitial: true,
  ignored: (p: string) => ignored.some((d) => p === d || p.startsWith(d + path.sep)),
});
w.on('error', (e) => process.stderr.write(`${String(e)}\n`));
w.on('ready', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => void w.close().then(() => process.exit(0)));
