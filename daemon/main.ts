import { Daemon } from './daemon.js';
import { startControlServer, type ControlHandler, type ControlServer } from './control-server.js';
import { controlHandlers } from './control-handlers.js';
import { approvalHandlers, enforceOwnerOnly, OwnerOnlyError, type ApprovalChange } from './approval-handlers.js';
import { createLogger } from '../src/report/logger.js';
import { describeForUser, exitCodeOf, ExitCode, KairosError } from '../src/core/errors.js';

/**
 * Exit codes (ExitCode in src/core/errors.ts): 0 a requested stop with nothing lost; 1 a failure (systemd's
 * Restart=on-failure restarts it); 2 it could not start on bad input (the policy); 3 another daemon holds the lock.
 */
export const EXIT_OK = ExitCode.ok;
export const EXIT_FAILED = ExitCode.failure;
import { compileShippedRules, registerSecretRedaction } from '../src/policy/redact/setup.js';

export interface RunDaemonOptions {
  home: string;
  repos: string[];
  env: NodeJS.ProcessEnv;
  /** Also log to stderr (foreground runs). */
  verbose: boolean;
}

/** Polling methods (the tray, scripts) must not make the user look present; everything else is someone at the CLI. */
const POLLING = new Set(['status', 'approvals.pending', 'debug.lazy_modules']);

function withPresence(handlers: Record<string, ControlHandler>, note: () => void): Record<string, ControlHandler> {
  return Object.fromEntries(
    Object.entries(handlers).map(([name, h]) => [name, POLLING.has(name) ? h : (params: Record<string, unknown>) => (note(), h(params))]),
  );
}

/** Runs the daemon in this process until SIGTERM/SIGINT or `kairos stop`; SIGHUP reloads the policy. */
export async function runDaemon(o: RunDaemonOptions): Promise<number> {
  const logger = createLogger(o.home, { level: o.env.KAIROS_LOG_LEVEL ?? 'info', alsoStderr: o.verbose });
  registerSecretRedaction(o.env);
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ home: o.home, repos: o.repos, env: o.env, logger });
  } catch (e) {
    // A person's problem (a lock, a policy, a damaged store: a KairosError that is not a bug) is one line;
    // anything else keeps its stack for a report. The exit code is the error's own: 2 for a bad policy,
    // 3 for the lock (LockError), 1 for the rest.
    const known = e instanceof KairosError && !e.bug;
    const msg = known ? describeForUser(e) : `could not start: ${describeForUser(e, true)}`;
    logger.error({ err: msg }, 'start failed');
    logger.flush?.();
    process.stderr.write(`kairos: ${msg}\n`);
    return exitCodeOf(e);
  }
  let control: ControlServer | undefined;
  let done!: (code: number) => void;
  const finished = new Promise<number>((r) => (done = r));
  // The exit code says whether anything went wrong: a crash or lost events must never look like a clean stop,
  // or the service manager (Restart=on-failure) would leave Kairos down.
  let failure: string | undefined;
  const stop = (reason: string, failed?: string): void => {
    failure ??= failed;
    void (async () => {
      await control?.close().catch(() => undefined);
      const r = await daemon.stop(reason);
      if (r.unwritten) failure ??= `${r.unwritten} events held in memory could not be written: the disk of ${o.home} is full`;
      logger.flush?.();
      if (failure) process.stderr.write(`kairos: stopped: ${failure}\n`);
      done(failure ? EXIT_FAILED : EXIT_OK);
    })();
  };
  const onChange = (change: ApprovalChange): void => {
    logger.info({ change: change.type }, 'approvals changed');
    daemon.onApprovalsChanged(change);
  };
  const handlers = { ...controlHandlers(daemon, stop), ...approvalHandlers({ queue: daemon.approvals, onChange, log: logger }) };
  try {
    // The home is checked (ours, 0700) before the socket is bound, and both again after.
    control = await startControlServer(o.home, withPresence(handlers, () => daemon.ambient.noteCliUse()));
    enforceOwnerOnly(o.home);
  } catch (e) {
    if (!(e instanceof OwnerOnlyError)) throw e;
    process.stderr.write(`kairos: ${e.message}\n`);
    stop('state folder not private', e.message);
    await finished;
    return EXIT_FAILED;
  }
  // Off the start-up path: the watchers first (redaction compiles each rule on its first use meanwhile).
  void daemon.watching
    .catch(() => undefined) // a watcher's failure is reported by the daemon itself
    .then(() => compileShippedRules(logger))
    .catch((e: unknown) => logger.error({ err: e instanceof Error ? e.message : String(e) }, 'secret rules could not be compiled'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => daemon.reload());
  // Last line of defence: log and stop cleanly rather than die with a half-written state, and exit non-zero.
  const fatal = (what: string) => (err: unknown) => {
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    logger.fatal({ err: text }, what);
    stop(what, `${what}: ${err instanceof Error ? err.message : String(err)}`);
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled promise rejection'));
  if (o.verbose) {
    void daemon.watching.then(() => {
      const repos = daemon.status().repos;
      const n = Array.isArray(repos) ? repos.length : 0;
      process.stderr.write(`kairos: watching ${n} repositor${n === 1 ? 'y' : 'ies'}; Ctrl-C stops\n`);
    });
  }
  return finished;
}
