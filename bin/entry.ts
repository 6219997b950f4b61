// The process entry's body (bin/kairos.ts runs it, or the bundle built from it). It sits above both
// peers, the CLI and the daemon, so that neither imports the other: it hands the CLI a way to become
// the daemon (`kairos run`), loaded only on that path (a lazy chunk in the bundle) so every other
// command starts without the daemon's code.
import { provideDaemonRunner } from '../src/cli/daemon-runner.js';

// `kairos run` begins crawling the work trees it is given before the CLI and the daemon load, so the
// native crawl (most of a big tree's time to "ready") runs on its own thread meanwhile (a lazy chunk,
// as the daemon is: src/cli/early-run.ts). Only the command word in first place is recognised here.
const early = process.argv[2] === 'run' ? await import('../src/cli/early-run.js') : undefined;
await early?.beginEarlyRun(process.argv.slice(3), process.env);

provideDaemonRunner(async (options) => (await import('../daemon/main.js')).runDaemon(options));
try {
  await import('../src/cli/main.js');
} finally {
  // A run that ended before its watchers took over (bad arguments, the lock held by another daemon):
  // an early subscription left open would keep the process from exiting.
  await early?.endEarlyRun();
}
