import { watchWithChokidar } from './chokidar-source.js';
import { initialStatus, type FsSource, type FsSourceOptions } from './file-watch.js';
import { watchNative } from './native-source.js';
import { chooseEngine } from './watch-engine.js';

export type { FsSource, FsSourceOptions, WatcherStatus } from './file-watch.js';

/**
 * Watches a repository's work tree with the engine chosen for this machine (watch-engine.ts):
 * @parcel/watcher natively or through Watchman, chokidar when the native module cannot load.
 * Every event is checked against the disk before it is handed on (disk-check.ts).
 */
export function watchFiles(opts: FsSourceOptions): FsSource {
  const status = initialStatus();
  let inner: FsSource | undefined;
  let closing = false;
  const chosen = chooseEngine(opts.env ?? process.env).then((engine) => {
    Object.assign(status, { engine: engine.name, backend: engine.backend ?? null, reason: engine.reason });
    if (closing) return undefined;
    inner = engine.name === 'chokidar' ? watchWithChokidar(opts, status) : watchNative(opts, engine, status);
    return inner;
  });
  const ready = chosen.then((s) => s?.ready);
  ready.catch((e: Error) => {
    status.state = 'failed';
    status.error = e.message;
  });
  return {
    ready: ready.then(() => undefined),
    scanned: chosen.then((s) => s?.scanned).catch(() => undefined),
    status: () => inner?.status() ?? { ...status },
    close: async () => {
      closing = true;
      const s = await chosen.catch(() => undefined);
      await s?.close();
      status.state = 'closed';
    },
  };
}
