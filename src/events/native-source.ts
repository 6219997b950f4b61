import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BurstTracker } from './burst.js';
import type { EventDraft } from './event.js';
import { takeEarlyStart } from './early-watch.js';
import { checkAgainstDisk, type FileOrigin, type RawChange, type Reported } from './disk-check.js';
import type { FsSource, FsSourceOptions, WatcherStatus } from './file-watch.js';
import { IgnoreRules, isIgnoreFile } from './ignore-rules.js';
import { NativeTree } from './native-tree.js';
import { NewDirRecheck } from './new-dir-recheck.js';
import { creditDrafts, noteParcelDelivery } from './quiet-credit.js';
import { sameDirList, scanTree, type TreeScan } from './tree-scan.js';
import { savedIgnoresHold } from './saved-ignores.js';
import { changedAfter, sameWatchmanServer } from './watchman-restart.js';
import { TreeSnapshot } from './tree-snapshot.js';
import { InternalError, messageOf } from '../core/errors.js';
import type { EngineChoice } from './watch-engine.js';

const RELOAD_DEBOUNCE_MS = 150;
const DEFAULT_SNAPSHOT_INTERVAL_MS = 60_000;
/** Long enough for the native watcher to have added the watch of a folder it reported. */
const LISTED_RECHECK_MS = 1000;

/**
 * A work tree watched by @parcel/watcher (inotify, FSEvents, Windows, or Watchman):
 *   1. find the ignored folders (an async walk of folders, which is also the progress a person sees);
 *   2. subscribe, skipping them natively;
 *   3. report what changed since the last snapshot as `origin: offline`, then let live events flow;
 *   4. keep the snapshot current (on an interval when something changed, and on close);
 *   5. after a storm, or when a new folder's files were written before its watch existed, crawl
 *      afresh and report what the events missed, deletions included;
 *   6. when an ignore file changes, re-subscribe under the new rules, reporting neither the files
 *      that stopped being ignored nor those that started.
 */
export function watchNative(opts: FsSourceOptions, engine: EngineChoice, status: WatcherStatus): FsSource {
  const repo = opts.repo;
  const parcel = engine.parcel!;
  const backend = engine.backend!;
  // Watchman recrawls by itself after an overflow and lists new folders itself.
  const canResync = backend !== 'watchman';
  // parcel's own debouncer guarantees quiet before some deliveries (quiet-credit.ts); through Watchman it is Watchman's timing that counts.
  const creditsQuiet = backend === 'inotify' || backend === 'fs-events' || backend === 'windows';
  // What `kairos run` began before the daemon loaded (early-watch.ts), taken over where it matches.
  const pre = takeEarlyStart(repo, backend);
  const startedAt = pre?.startedAt ?? Date.now();
  let rules = new IgnoreRules(repo, opts.ignore);
  let tree: NativeTree | undefined;
  let closed = false;
  /** Live events that arrive before the offline ones are reported wait here. */
  let held: RawChange[] | undefined = [];
  const reported: Reported = new Map();
  /** Something changed since the snapshot was written. */
  let dirty = false;
  /** The native tree missed files (written into a folder before its watch): crawl before trusting it as a snapshot. */
  let stale = false;
  /** Folders appeared whose subfolders the native watcher may not watch: crawl once the burst is over. */
  let crawlWhenQuiet = false;
  /** One resync, reload or snapshot at a time; they all swap or read the subscription. */
  let busy: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = busy.then(fn, fn);
    busy = next.catch(() => undefined);
    return next;
  };
  const snapshot = opts.snapshotDir ? new TreeSnapshot(opts.snapshotDir, repo, backend) : undefined;
  /** Where a comparison's temporary snapshot goes: beside the real one, or in the temp folder. */
  const scratch = (tag: string): string => snapshot?.scratch(tag) ?? path.join(os.tmpdir(), `kairos-${tag}-${process.pid}-${crypto.randomUUID()}`);
  const liveOrigin = (rel: string): FileOrigin => (opts.isOwnWrite?.(rel) ? 'daemon' : 'user');
  const report = (changes: readonly RawChange[], origin: (rel: string) => FileOrigin, data?: Record<string, unknown>, r?: Reported, watcherQuiet = 0, stored?: PendingStates): number => {
    const checked = checkAgainstDisk(changes, { repo, rules, origin, reported: r, data, onRefused: (rel, why) => opts.onRefused?.(rel, why) });
    const { foundInNewDirs, unseenDirs, newDirs, newestChangeMs } = checked;
    const drafts = notYetStored(checked.drafts, stored);
    creditDrafts(drafts, watcherQuiet, newestChangeMs);
    if (unseenDirs && canResync) crawlWhenQuiet = true;
    if (newDirs.length && canResync) {
      const at = Date.now();
      const paths = drafts.flatMap((d) => ('path' in d ? [d.path] : []));
      for (const dir of newDirs) newDirRecheck.add(dir, paths.filter((p) => p.startsWith(`${dir}/`)), at);
      scheduleListedCheck();
    }
    if (foundInNewDirs.length) {
      if (canResync) stale = true;
      const at = Date.now();
      for (const rel of foundInNewDirs) listed.set(rel, at);
      scheduleListedCheck();
    }
    if (drafts.length) {
      markDirty();
      opts.onEvents(drafts);
    }
    return drafts.length;
  };

  const burst = new BurstTracker({
    onStorm: () => opts.onStorm?.(true),
    onQuiet: (wasStorm) => {
      const crawl = crawlWhenQuiet;
      crawlWhenQuiet = false;
      if (!canResync) {
        reported.clear();
        if (wasStorm) opts.onStorm?.(false);
        return;
      }
      // The burst's memory of what was reported is kept through its recovery crawl, so a file the
      // events already reported (or a folder listing found) is not reported again as recovered.
      if (wasStorm) void serial(() => resync('storm')).catch(onError).finally(() => {
        reported.clear();
        opts.onStorm?.(false);
      });
      else if (crawl) void serial(() => resync('folders were created inside new folders before these were watched')).catch(onError).finally(() => reported.clear());
      else reported.clear();
    },
  });

  /**
   * Files reported because a new folder was listed, not because the watcher saw them: the listing
   * can run a moment before the folder's watch exists, so a file removed in that moment would never
   * be reported gone. Each is looked at again once the watch surely exists, unless the watcher has
   * spoken about it since.
   */
  const listed = new Map<string, number>();
  const newDirRecheck = new NewDirRecheck(repo);
  let listedTimer: NodeJS.Timeout | undefined;
  function scheduleListedCheck(): void {
    listedTimer ??= setTimeout(() => {
      listedTimer = undefined;
      const due = Date.now() - LISTED_RECHECK_MS;
      const gone: RawChange[] = [];
      for (const [rel, at] of listed) {
        if (at > due) continue;
        listed.delete(rel);
        // Only the really gone: a file still there is as the listing reported it, or the watcher has
        // spoken of it since. (Handed over as a claimed removal after the burst's memory was cleared,
        // a file still present came out as a spurious file.changed a second after its add.)
        if (!visible(path.join(repo, rel))) gone.push({ rel, kind: 'delete' });
      }
      if (gone.length && !closed) report(gone, liveOrigin);
      const missed = newDirRecheck.due(Date.now(), LISTED_RECHECK_MS, rules);
      if (missed.length && !closed) report(missed, liveOrigin, undefined, reported);
      if (listed.size || newDirRecheck.size) scheduleListedCheck();
    }, LISTED_RECHECK_MS);
  }

  let reloadTimer: NodeJS.Timeout | undefined;
  const onChanges = (changes: RawChange[]): void => {
    status.raw_events += changes.length;
    // Every delivery counts for the debouncer's timing, the held ones too.
    const watcherQuiet = creditsQuiet ? noteParcelDelivery() : 0;
    if (held) {
      held.push(...changes);
      return;
    }
    if (listed.size) for (const c of changes) listed.delete(c.rel);
    changes = newDirRecheck.correct(changes);
    newDirRecheck.saw(changes);
    burst.note(changes.length);
    if (changes.some((c) => isIgnoreFile(c.rel))) {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => void serial(() => reloadIgnores()).catch(onError), RELOAD_DEBOUNCE_MS);
    }
    report(changes, liveOrigin, undefined, reported, watcherQuiet);
  };
  const onError = (err: Error): void => {
    if (!closed) opts.onError(err);
  };

  /** Crawl afresh under the current ignores and report what the live tree did not know. */
  async function resync(why: string): Promise<void> {
    if (!tree || closed) return;
    stale = false;
    const missed = await tree.resubscribe(tree.ignored, scratch('resync'));
    const n = report(missed, liveOrigin, { recovered: true }, reported);
    opts.onInfo?.('tree crawled again', { repo, why, recovered: n });
  }

  async function reloadIgnores(why = 'an ignore file changed'): Promise<void> {
    if (!tree || closed) return;
    const before = rules;
    const next = before.reloaded();
    const scan = await scanTree(repo, next);
    Object.assign(status, { files: scan.files, dirs: scan.dirs });
    if (sameDirList(scan.ignoredDirs, tree.ignored)) {
      rules = next;
      opts.onInfo?.('ignore rules reloaded', { repo, why, ignored_dirs: scan.ignoredDirs.length, resubscribed: false });
      return;
    }
    // Events of the gap are in the comparison; files whose ignore status flipped are not news.
    const diff = await tree.resubscribe(scan.ignoredDirs, scratch('reload'));
    rules = next;
    stale = false;
    status.ignored_dirs = scan.ignoredDirs.length;
    const unchanged = diff.filter((c) => !flipped(before, next, c.rel));
    const n = report(unchanged, liveOrigin);
    opts.onInfo?.('ignore rules reloaded', { repo, why, ignored_dirs: scan.ignoredDirs.length, resubscribed: true, reported: n, skipped: diff.length - unchanged.length });
  }

  async function saveSnapshot(): Promise<void> {
    if (!tree || !snapshot) return;
    if (stale) await resync('new folders were filled before their watch existed');
    dirty = false;
    await snapshot.save(tree, sizeNow());
  }

  const interval = opts.snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS;
  /**
   * Idle costs nothing: the timer is armed by the first change after a snapshot, not ticking on its
   * own, so a quiet tree never wakes the process. It writes at most once per interval, never mid-storm.
   */
  let snapshotTimer: NodeJS.Timeout | undefined;
  function markDirty(): void {
    dirty = true;
    if (snapshotTimer || closed) return;
    snapshotTimer = setTimeout(() => {
      snapshotTimer = undefined;
      if (!dirty || closed) return;
      if (burst.inStorm) markDirty();
      else void serial(saveSnapshot).catch(onError);
    }, interval);
    snapshotTimer.unref();
  }

  const taken = { scan: false, subscription: false, offline: false };
  /** What changed while Kairos was stopped: the early start's comparison when it ran under this subscription, else a fresh one. */
  const offlineSince = (t: NativeTree, snap: TreeSnapshot): Promise<RawChange[]> => {
    const early = pre?.offlineFor(snap.file);
    taken.offline = early !== undefined;
    return t.changesSince(snap.file, early);
  };
  const sizeNow = (): { files: number; dirs: number; policyIgnore: readonly string[] } => ({ files: status.files, dirs: status.dirs, policyIgnore: opts.ignore ?? [] });
  const subscribe = async (ignoredDirs: readonly string[]): Promise<NativeTree> => {
    const early = await pre?.subscriptionFor(ignoredDirs);
    if (early) taken.subscription = true;
    return NativeTree.subscribe({ parcel, backend, repo, ignoredDirs, onChanges, onError }, early);
  };

  let scanOver!: () => void;
  const scanned = new Promise<void>((resolve) => (scanOver = resolve));
  const ready = (async () => {
    const base = snapshot?.baseline();
    // A restart subscribes at once under the ignored folders the last run saved with its snapshot
    // (or takes over that subscription from `kairos run`'s early start). Until the offline changes
    // are reported, live events wait in `held`. A subscription that fails here is not an error yet:
    // the scan's list is subscribed below.
    const earlyFailed = (e: unknown): undefined => {
      opts.onInfo?.("could not subscribe under the last run's ignored folders; subscribing after the scan", { repo, err: messageOf(e) });
      return undefined;
    };
    const earlyTree = base?.usable && base.ignoredDirs ? subscribe(base.ignoredDirs).catch(earlyFailed) : undefined;
    let offline: RawChange[] | undefined;
    let scan: TreeScan | undefined;
    let resubscribed = false;
    let walkAfterReady = false;
    let subscribedAt = 0;
    if (earlyTree && base?.usable && snapshot && savedIgnoresHold(repo, base, opts.ignore ?? [], [])) {
      // Nothing outside the tree says the rules changed: compare first, and walk before ready only
      // if the comparison shows an ignore file changed while Kairos was stopped.
      scanOver();
      tree = await earlyTree;
      subscribedAt = Date.now();
      if (tree) {
        offline = await offlineSince(tree, snapshot);
        walkAfterReady = savedIgnoresHold(repo, base, opts.ignore ?? [], offline);
        if (walkAfterReady) Object.assign(status, { files: base.files ?? 0, dirs: base.dirs ?? 0, ignored_dirs: tree.ignored.length });
      }
    }
    if (!walkAfterReady) {
      try {
        const earlyScan = await pre?.scanFor(opts.ignore ?? []);
        taken.scan = earlyScan !== undefined;
        scan =
          earlyScan ??
          (await scanTree(repo, rules, (p) => {
            Object.assign(status, p);
            opts.onProgress?.({ ...status });
          }));
      } catch (e) {
        scanOver();
        await (tree ?? (await earlyTree))?.close().catch(() => undefined);
        throw e;
      }
      scanOver();
      Object.assign(status, { files: scan.files, dirs: scan.dirs, ignored_dirs: scan.ignoredDirs.length });
      opts.onProgress?.({ ...status, elapsed_ms: Date.now() - startedAt });
    }
    const scannedAt = Date.now();
    if (earlyTree && scan) {
      tree ??= await earlyTree;
      if (tree && !sameDirList(scan.ignoredDirs, tree.ignored)) {
        // An ignore file (or the policy) changed while Kairos was stopped: watch under the new rules.
        // The offline comparison below runs (again) after this subscription (subscribe, then compare),
        // so a folder that became visible has its files compared with the snapshot like any other.
        await tree.rewatch(scan.ignoredDirs);
        resubscribed = true;
        offline = undefined;
      }
    }
    if (!tree) {
      if (!scan) throw new InternalError('the watcher has neither a subscription nor a walk to subscribe with');
      tree = await subscribe(scan.ignoredDirs);
    }
    subscribedAt ||= Date.now();
    // Subscribe first, compare second, never both at once: a change made between the comparison's
    // look at a folder and that folder's watch would be seen by neither.
    if (snapshot && base?.usable) {
      offline ??= await offlineSince(tree, snapshot);
      let note = '';
      if (backend === 'watchman' && !(await sameWatchmanServer(tree, snapshot))) {
        // A clock from a Watchman server that has since restarted (a reboot) lists every file as
        // created. Only files whose inode changed after the snapshot are news; deletions are unknowable.
        offline = changedAfter(repo, offline, Date.parse(base.writtenAt));
        note = '; Watchman restarted since, so deletions made meanwhile are not known';
        opts.onInfo?.('watchman restarted since the snapshot: deletions made while Kairos was stopped cannot be listed', { repo });
      }
      // Into the burst's memory: a live event held meanwhile that finds a file exactly as the comparison
      // reported it (written between the subscription and the comparison) is the same change, not a second one.
      const n = report(offline, () => 'offline', undefined, reported, 0, opts.pendingFileStates?.());
      status.offline = `${n} change${n === 1 ? '' : 's'} made while Kairos was not watching (snapshot of ${base.writtenAt}${note})`;
      opts.onInfo?.('offline changes recovered', { repo, events: n, since: base.writtenAt });
    } else {
      status.offline = snapshot ? `nothing to compare with (${base && !base.usable ? base.why : 'no snapshot'})` : 'no snapshot kept';
    }
    // The new baseline, written right after live events start to flow (off the start-up path: a
    // 100,000-entry snapshot takes a moment). Until it is written a crash reports the offline batch
    // again on the next start, which is allowed (a path reported again, never twice in one batch).
    dirty = false;
    if (snapshot) void serial(() => snapshot.save(tree!, sizeNow())).catch(onError);
    // The walk a restart skipped: it counts the tree for `status` and finds a folder created while
    // stopped that a pattern ignores (then re-subscribes without it, as an ignore file's edit does).
    if (walkAfterReady) void serial(() => reloadIgnores('the walk after a restart')).catch(onError);
    const early = held ?? [];
    held = undefined;
    status.raw_events -= early.length; // counted once, when they arrived
    if (early.length) onChanges(early);
    status.state = 'watching';
    status.elapsed_ms = Date.now() - startedAt;
    // With `subscribed_early` (or `early_subscription`), the subscription ran beside the walk, or
    // without one: subscribe_ms counts from the start. `walk`: when the folders were walked.
    const subscribeStartedAt = earlyTree || taken.subscription ? startedAt : scannedAt;
    opts.onInfo?.('indexed', {
      repo,
      engine: engine.name,
      files: status.files,
      dirs: status.dirs,
      walk: walkAfterReady ? 'after ready' : taken.scan ? 'early' : 'before subscribing',
      scan_ms: scan?.elapsedMs ?? 0,
      subscribe_ms: subscribedAt - subscribeStartedAt,
      offline_ms: Date.now() - subscribedAt,
      subscribed_early: earlyTree !== undefined,
      resubscribed,
      // Begun by `kairos run` before the daemon loaded (early-watch.ts): which parts were taken over.
      ...(pre ? { early_scan: taken.scan, early_subscription: taken.subscription, early_offline: taken.offline, ...(pre.failed ? { early_failed: pre.failed } : {}) } : {}),
    });
  })();
  // Whatever of the early start was not taken over is closed once this start is over.
  void ready.catch(() => undefined).finally(() => void pre?.release());
  ready.catch((e: Error) => {
    scanOver(); // a start that failed before its walk was over must not hold up the daemon's start
    status.state = 'failed';
    status.error = e.message;
  });

  return {
    ready,
    scanned,
    status: () => {
      if (status.state !== 'indexing') return { ...status };
      // While `kairos run`'s early walk runs, its counts are the progress a person sees.
      const walking = pre?.progress();
      return { ...status, ...(walking ? { files: walking.files, dirs: walking.dirs } : {}), elapsed_ms: Date.now() - startedAt };
    },
    close: async () => {
      clearTimeout(snapshotTimer);
      clearTimeout(reloadTimer);
      clearTimeout(listedTimer);
      burst.stop();
      await ready.catch(() => undefined);
      // The last snapshot: what changes after this is what the next start reports.
      await serial(async () => {
        // A folder that is gone (deleted, about to be cloned again) has nothing worth a snapshot.
        if (tree && snapshot && (dirty || stale) && !closed && fs.existsSync(repo)) await saveSnapshot();
      }).catch(onError);
      closed = true;
      await tree?.close();
      status.state = 'closed';
    },
  };
}

/** Seen by lstat (gone or unreadable is not: as for the disk check, either way the watcher cannot see it). */
function visible(abs: string): boolean {
  try {
    fs.lstatSync(abs);
    return true;
  } catch {
    return false;
  }
}

/** Ignored under one set of rules and not the other (as a file, or as a folder: a comparison cannot tell which it was). */
function flipped(before: IgnoreRules, after: IgnoreRules, rel: string): boolean {
  return before.ignores(rel, false) !== after.ignores(rel, false) || before.ignores(rel, true) !== after.ignores(rel, true);
}

type PendingStates = ReadonlyMap<string, 'present' | 'gone'>;

/**
 * The events a stored event not yet acted on does not already say: one that finds the disk as that
 * event left it (present, or gone) is the same change. Applied to what the disk check made of the
 * changes, so files listed in a new folder are covered too.
 */
function notYetStored(drafts: EventDraft[], stored: PendingStates | undefined): EventDraft[] {
  if (!stored?.size) return drafts;
  return drafts.filter((d) => {
    const was = 'path' in d ? stored.get(d.path) : undefined;
    return was === undefined || (was === 'gone') !== (d.type === 'file.removed');
  });
}
