/**
 * Node options for a daemon process that Kairos starts itself (`kairos start`, the service unit), on
 * the command line rather than NODE_OPTIONS so they never reach the commands it runs.
 *
 * --max-semi-space-size=2 (MB): V8's young generation may otherwise grow to 16 MB per semi-space while
 * the start-up scan allocates, and the pages stay resident. Capped, the daemon's RSS at ready on a
 * 100,000-file tree was ~10 MB lower (128 → 118 MB) for the same CPU time to ready (bench/README.md).
 */
export const DAEMON_NODE_ARGS: readonly string[] = ['--max-semi-space-size=2'];

/**
 * Environment for a daemon process Kairos starts itself, unless the user's own environment sets it.
 *
 * UV_THREADPOOL_SIZE=8: @parcel/watcher's crawl, snapshot comparison and snapshot writes each hold one of
 * libuv's threads until done (on Watchman, for the server's whole crawl), and the daemon's module loading
 * and file reads queue behind them on the default 4. It must be in the environment: libuv sizes its pool
 * on first use, before any of the daemon's code runs. Node children of the daemon's commands inherit it
 * (a larger pool for them too, nothing else).
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = { UV_THREADPOOL_SIZE: '8' };

/** `env` with DAEMON_ENV's defaults for what it leaves unset. */
export function daemonEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...DAEMON_ENV, ...env };
}
