import fs from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { storePath } from '../store/db.js';
import { isPaused } from '../pipeline/approvals.js';
import { spendReport } from '../model/spend-report.js';
import { loadPolicyOrDefault } from '../policy/load.js';
import { runTray, spendFacts, TrayUnavailableError, type LocalTrayFacts } from '../report/tray.js';
import { callDaemon } from './control-client.js';
import { withStore } from './listings.js';
import { messageOf } from '../core/errors.js';

/**
 * `kairos tray`: the tray icon, as its own process. It talks to the daemon only over the control
 * socket, so it can be started, stopped and restarted independently; with the daemon down it
 * shows "daemon not running" and picks the daemon up again when it returns.
 */

export interface TrayCommandDeps {
  home(): string;
}

const DECIDE_TIMEOUT_MS = 120_000;

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0.2 || n > 3600) throw new InvalidArgumentError('expected a number of seconds between 0.2 and 3600');
  return n;
}

/** Paused and spend straight from the store, for a daemon whose `status` does not carry them. */
export function localTrayFacts(home: string): LocalTrayFacts {
  if (!fs.existsSync(storePath(home))) return {};
  const budget = loadPolicyOrDefault(home).budget;
  return withStore(home, (db) => ({ paused: isPaused(db), ...spendFacts(spendReport(db, budget, Date.now())) }));
}

export function registerTrayCommand(program: Command, deps: TrayCommandDeps): void {
  program
    .command('tray')
    .description('show a tray icon: state (watching / paused / budget low / N pending), pending approvals with Approve / Deny / Show, Pause / Resume, spend today, the daily log')
    .option('--refresh <seconds>', 'how often to ask the daemon', seconds, 3)
    .action(async (o: { refresh: number }) => {
      process.exitCode = await trayCommand(deps.home(), o.refresh);
    });
}

export async function trayCommand(home: string, refreshSeconds: number): Promise<number> {
  let tray;
  try {
    tray = await runTray({
      home,
      control: (m, p) => callDaemon(home, m, p, DECIDE_TIMEOUT_MS),
      local: () => localTrayFacts(home),
      refreshMs: Math.round(refreshSeconds * 1000),
    });
  } catch (e) {
    if (e instanceof TrayUnavailableError) {
      process.stderr.write(`kairos tray: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const stop = (): void => void tray.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await tray.done;
    return 0;
  } catch (e) {
    process.stderr.write(`kairos tray: ${messageOf(e)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
