/**
 * Node options for a daemon process that Kairos starts itself (`kairos start`, the service unit), on
 * the command line rather than NODE_OPTIONS so they never reach the commands it runs.
 *
 * --max-semi-space-size=2 (MB): V8's young generation may otherwise grow to 16 MB per semi-space while
 * the start-up scan allocates, and the pages stay resident. Capped, the daemon's RSS at ready on a
 * 100,000-file tree was ~10 MB lower (128 → 118 MB) for the same CPU time to ready (bench/README.md).
 */
export const DAEMON_NODE_ARGS: readonly string[] = ['--max-semi-space-size=2'];
