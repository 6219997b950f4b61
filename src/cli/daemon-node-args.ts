/**
 * Node options for a daemon process that Kairos starts itself (`kairos start`, the service unit);
 * passed on the command line, not through NODE_OPTIONS, so they never reach the commands it runs.
 */
export const DAEMON_NODE_ARGS: readonly string[] = [];
