import fs from 'node:fs';
import { storePath, type Db } from '../src/store/db.js';
import type { Logger } from '../src/report/logger.js';
import { onBashGrammarFailure } from '../src/policy/shell-grammar.js';
import { reconcileWorktrees } from '../src/agent/worktree.js';
import { recoverAfterStop, startApprovalExpiry } from './recovery.js';
import { watchPolicyFiles } from './policy-watch.js';
import { ensureIncrementalVacuum } from '../src/store/retention.js';
import { isDamaged, StoreDamagedError } from '../src/store/store-errors.js';
import { messageOf } from '../src/core/errors.js';
import type { DaemonParts } from './daemon-parts.js';
import { releaseEarlyStarts } from '../src/events/early-watch.js';

/** A corrupt page met while starting (not only at open) is the same problem for the user: one line, what to do. */
export function damagedAsOneLine(e: unknown, home: string): unknown {
  return isDamaged(e) && !(e instanceof StoreDamagedError) ? new StoreDamagedError(storePath(home), messageOf(e), { cause: e }) : e;
}

/** A store made before incremental vacuum is rewritten once, at start, before anything is watched. */
function convertToIncrementalVacuum(db: Db, log: Logger): void {
  const t0 = Date.now();
  try {
    if (ensureIncrementalVacuum(db) === 'converted') log.info({ ms: Date.now() - t0 }, 'store converted to incremental vacuum (once)');
  } catch (e) {
    log.warn({ err: messageOf(e) }, 'could not convert the store to incremental vacuum (needs free disk as large as the store); tried again at the next start');
  }
}

/**
 * The longest the rest of the start waits for the work trees' folder walks (a huge tree's walk takes
 * seconds: the control socket, which comes up once the start is over, must not wait that long).
 */
const SCAN_FIRST_MAX_MS = 300;

/**
 * Until a tree's folder walk (main thread) is over, its native crawl (another thread) has not begun:
 * start-up work run meanwhile only makes the walk, and so the whole indexing, later. What follows the
 * walks (worktree clean-up, replay, scheduled jobs) runs while the native crawls do.
 */
async function scansFirst(scans: ReadonlyArray<Promise<void>>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<void>((resolve) => (timer = setTimeout(resolve, SCAN_FIRST_MAX_MS)));
  await Promise.race([Promise.all(scans), cap]);
  clearTimeout(timer);
}

/**
 * The start sequence, after the parts are wired: recover what the last stop left, then watch every
 * repository (indexing finishes in the background), replay, and start the scheduled jobs.
 */
export async function recoverAndWatch(p: DaemonParts): Promise<void> {
  const now = new Date().toISOString();
  convertToIncrementalVacuum(p.db, p.log);
  p.events.count(); // counted once here, so status never counts a big table
  await recoverAfterStop({
    db: p.db,
    model: p.model,
    tasks: p.tasks,
    approvals: p.approvals,
    log: p.log,
    onInterrupted: (t) => {
      p.commands.stopOrphaned(t);
      p.reporter.interrupted(t);
    },
  });
  p.setExpiry(startApprovalExpiry(p.approvals, p.log));
  const shownAgain = p.proposalNotifier ? p.agents.announcePending() : 0;
  if (shownAgain) p.log.info({ count: shownAgain }, 'proposals still waiting shown again');
  for (const r of p.startRepos) p.repoStore.setWatched(r, true, now);
  // Sources start now; indexing finishes in the background so `status` answers "indexing" meanwhile.
  const indexing: Promise<void>[] = [];
  for (const r of p.repoStore.watched()) {
    if (!fs.existsSync(r)) {
      p.log.warn({ repo: r }, 'watched repository no longer exists; skipping');
      continue;
    }
    indexing.push(p.addRepo(r).catch((e: Error) => p.log.error({ repo: r, err: e.message }, 'could not watch repository')));
  }
  p.setWatching(
    Promise.all(indexing).then(async () => {
      // A repository `kairos run` began early that is not watched after all (gone, or refused): closed now.
      const unused = await releaseEarlyStarts();
      if (unused) p.log.info({ count: unused }, 'early watch starts not taken over were closed');
      p.indexed();
      p.log.info({ repos: [...p.repos.keys()] }, 'ready');
      // After the watchers, not before: the dream's schedule loads the cron libraries, and this warning
      // is the first log line the secret rules must check (they compile on first use); neither is
      // needed to watch, and both cost the start ~100 ms of this thread on a big tree.
      p.ambient.start();
      if (!p.model.modelStepsEnabled) p.log.warn(p.model.disabledReason ?? 'model steps are off');
    }),
  );
  await scansFirst([...p.repos.values()].map((r) => r.watch?.scanned ?? Promise.resolve()));
  // Agent worktrees of tasks that are no longer running leaked with the crash: remove them.
  const onFailure = (f: { repo: string; taskId?: string; err: unknown }): void =>
    p.log.warn({ repo: f.repo, task: f.taskId, err: messageOf(f.err) }, 'could not remove a leftover agent worktree; the next start tries again');
  const leaked = await reconcileWorktrees({ home: p.home, repos: [...p.repos.keys()], liveTaskIds: [], onFailure }).catch((e: Error) => {
    p.log.warn({ err: e.message }, 'could not reconcile agent worktrees');
    return [];
  });
  if (leaked.length) p.log.warn({ count: leaked.length }, 'removed agent worktrees left by the last stop');
  // Settled batches whose task never started run now; events stored but never settled are replayed.
  for (const t of p.tasks.queued()) p.runner.enqueue(t.id);
  const unsettled = p.events.unsettled().filter((e) => p.repos.has(e.repo));
  if (unsettled.length) {
    p.log.info({ count: unsettled.length }, 'replaying events stored before the last stop');
    p.settler.add(unsettled, { replay: true });
  }
  p.retention.start();
  p.setPolicyWatch(watchPolicyFiles(p.home, () => p.policy.reload(), p.log));
  // The bash grammar loads with the first command check (an agent task), not at start; a failure is said then.
  onBashGrammarFailure((error) => p.log.warn(`${error}: every agent command will wait for approval (reinstall kairos to restore it)`));
  p.reporter.daily(p.audit.anchor());
}

/** Every step runs even when one before it failed (a full disk, a watcher that will not close). */
export async function shutdown(p: DaemonParts, reason: string): Promise<{ unwritten: number; errors: string[] }> {
  p.log.info({ reason }, 'stopping');
  const errors: string[] = [];
  const step = async (what: string, fn: () => unknown): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      errors.push(`${what}: ${messageOf(e)}`);
      p.log.error({ err: messageOf(e) }, `stopping: ${what} failed`);
    }
  };
  p.policyWatch()?.close();
  await step('settle', () => p.settler.stop());
  await step('file changes', () => p.fileChanges.stop());
  await step('ambient', () => p.ambient.stop());
  await step('retention', () => p.retention.stop());
  await step('notifications', () => p.proposalNotifier?.close());
  p.expiry()?.stop();
  for (const r of p.repos.values()) await step('cron', () => r.cron?.stop());
  await Promise.allSettled([...p.repos.values()].map((r) => r.watch?.close() ?? Promise.resolve()));
  // Give running commands a moment, then stop them; they are recorded as interrupted, not lost.
  await step('tasks', () => p.runner.stop(3000));
  await step('commands', () => p.commands.stopAll());
  let unwritten = 0;
  await step('held events', () => (unwritten = p.guard.stop()));
  if (unwritten) p.log.error({ unwritten }, `${unwritten} events held in memory could not be written (disk still full); they are lost with this process`);
  await step('interrupted tasks', () => p.tasks.interruptRunning(new Date().toISOString()));
  await step('audit anchor', () => p.reporter.daily(p.audit.anchor()));
  // Held notifications are shown, not lost, when the daemon stops.
  await step('notifications', async () => {
    p.batching.flush();
    await p.batching.settled();
  });
  await step('store', () => p.db.close());
  p.lock.release();
  p.log.info('stopped');
  return { unwritten, errors };
}
