import { Daemon } from './daemon.js';
import { startControlServer, type ControlHandler, type ControlServer } from './control-server.js';
import { controlHandlers } from './control-handlers.js';
import { approvalHandlers, enforceOwnerOnly, OwnerOnlyError, type ApprovalChange } from './approval-handlers.js';
import { LockError } from './lock.js';
import { createLogger } from '../src/report/logger.js';
import { PolicyError } from '../src/policy/load.js';

export interface RunDaemonOptions {
  home: string;
  repos: string[];
  env: NodeJS.ProcessEnv;
  /** Also log to stderr (foreground runs). */
  verbose: boolean;
}

/** Polling methods (the tray, scripts) must not make the user look present; everything else is someone at the CLI. */
const POLLING = new Set(['status', 'approvals.pending']);

function withPresence(handlers: Record<string, ControlHandler>, note: () => void): Record<string, ControlHandler> {
  return Object.fromEntries(
    Object.entries(handlers).map(([name, h]) => [name, POLLING.has(name) ? h : (params: Record<string, unknown>) => (note(), h(params))]),
  );
}

/** Runs the daemon in this process until SIGTERM/SIGINT or `kairos stop`; SIGHUP reloads the policy. */
export async function runDaemon(o: RunDaemonOptions): Promise<number> {
  const logger = createLogger(o.home, { level: o.env.KAIROS_LOG_LEVEL ?? 'info', alsoStderr: o.verbose });
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ home: o.home, repos: o.repos, env: o.env, logger });
  } catch (e) {
    const msg = e instanceof LockError || e instanceof PolicyError ? e.message : `could not start: ${(e as Error).stack ?? e}`;
    logger.error({ err: msg }, 'start failed');
    logger.flush?.();
    process.stderr.write(`kairos: ${msg}\n`);
    return e instanceof LockError ? 3 : 1;
  }
  let control: ControlServer | undefined;
  let done!: (code: number) => void;
  const finished = new Promise<number>((r) => (done = r));
  const stop = (reason: string): void => {
    void (async () => {
      await control?.close();
      await daemon.stop(reason);
      logger.flush?.();
      done(0);
    })();
  };
  const onChange = (change: ApprovalChange): void => {
    logger.info({ change: change.type }, 'approvals changed');
    daemon.onApprovalsChanged(change);
  };
  const handlers = { ...controlHandlers(daemon, stop), ...approvalHandlers({ queue: daemon.approvals, onChange }) };
  control = await startControlServer(o.home, withPresence(handlers, () => daemon.ambient.noteCliUse()));
  try {
    enforceOwnerOnly(o.home);
  } catch (e) {
    if (!(e instanceof OwnerOnlyError)) throw e;
    process.stderr.write(`kairos: ${e.message}\n`);
    stop('state folder not private');
    await finished;
    return 1;
  }
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => daemon.reload());
  // Last line of defence: log and stop cleanly rather than die with a half-written state.
  process.on('uncaughtException', (err) => {
    logger.fatal({ err: err.stack ?? String(err) }, 'uncaught exception');
    stop('uncaught exception');
  });
  if (o.verbose) {
    void daemon.watching.then(() => {
      const n = (daemon.status().repos as unknown[]).length;
      process.stderr.write(`kairos: watching ${n} repositor${n === 1 ? 'y' : 'ies'}; Ctrl-C stops\n`);
    });
  }
  return finished;
}
