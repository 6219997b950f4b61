// The process entry's body (bin/kairos.ts runs it, or the bundle built from it). It sits above both
// peers, the CLI and the daemon, so that neither imports the other: it hands the CLI a way to become
// the daemon (`kairos run`), loaded only on that path (a lazy chunk in the bundle) so every other
// command starts without the daemon's code.
import { provideDaemonRunner } from '../src/cli/daemon-runner.js';

provideDaemonRunner(async (options) => (await import('../daemon/main.js')).runDaemon(options));
await import('../src/cli/main.js');
