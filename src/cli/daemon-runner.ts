/**
 * How `kairos run` becomes the daemon. The CLI may not import daemon/ (they are peers; see
 * docs/ARCHITECTURE.md), so the process entry (bin/kairos.ts) provides the runner at start.
 */
export interface DaemonRunOptions {
  home: string;
  repos: string[];
  env: NodeJS.ProcessEnv;
  /** Also log to stderr (foreground runs). */
  verbose: boolean;
}

export type DaemonRunner = (options: DaemonRunOptions) => Promise<number>;

let runner: DaemonRunner | undefined;

export function provideDaemonRunner(r: DaemonRunner): void {
  runner = r;
}

export function daemonRunner(): DaemonRunner {
  if (!runner) throw new Error('this entry cannot run the daemon: start Kairos through its bin (`kairos run`, i.e. dist/bin/kairos.js), not dist/src/cli/main.js (a service unit from an older Kairos runs that path: `kairos service install` writes the current one; an npx cache made by an older Kairos links it too: `rm -rf ~/.npm/_npx` clears it)');
  return runner;
}
