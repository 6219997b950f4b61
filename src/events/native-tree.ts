import fs from 'node:fs';
import path from 'node:path';
import type { AsyncSubscription, Event as ParcelEvent, SubscribeCallback } from '@parcel/watcher';
import type { RawChange } from './disk-check.js';
import type { EarlySubscription } from './early-watch.js';
import type { ParcelBackend, ParcelWatcher } from './watch-engine.js';

// parcel's type list omits 'kqueue', which its native code accepts (the BSDs): the calls NativeTree
// makes are declared here once more, taking every backend it may be given.
interface TreeOptions {
  backend: ParcelBackend;
  ignore: string[];
}
declare module '@parcel/watcher' {
  function subscribe(dir: string, fn: SubscribeCallback, opts: TreeOptions): Promise<AsyncSubscription>;
  function writeSnapshot(dir: string, snapshot: string, opts: TreeOptions): Promise<string>;
  function getEventsSince(dir: string, snapshot: string, opts: TreeOptions): Promise<Event[]>;
}

export interface NativeTreeOptions {
  parcel: ParcelWatcher;
  backend: ParcelBackend;
  repo: string;
  /** Repo-relative folders the native watcher skips entirely (no crawl, no watch, no event). */
  ignoredDirs: readonly string[];
  onChanges(changes: RawChange[]): void;
  onError(err: Error): void;
}

/**
 * One @parcel/watcher subscription on a work tree, and the snapshot operations that go with it.
 * With the inotify backend parcel keeps the tree it crawled in memory (shared per root), so
 * `changesSince` compares a snapshot file against that live tree without crawling again, and
 * `resubscribe` (snapshot the tree as the events left it, unsubscribe, crawl afresh, compare)
 * finds exactly what the events missed: an overflowed kernel queue, files written into a folder
 * before its watch existed. With Watchman, a snapshot is Watchman's clock.
 */
export class NativeTree {
  private sub: AsyncSubscription | undefined;
  private ignoredDirs: readonly string[];
  private closed = false;

  private constructor(private readonly o: NativeTreeOptions) {
    this.ignoredDirs = o.ignoredDirs;
  }

  /** Subscribes, or takes over `early` (a subscription `kairos run` made under the same ignored folders before this existed). */
  static async subscribe(o: NativeTreeOptions, early?: EarlySubscription): Promise<NativeTree> {
    const t = new NativeTree(o);
    if (early?.handle) {
      t.sub = early.handle;
      early.attach(t.onEvents);
    } else await t.start();
    return t;
  }

  get ignored(): readonly string[] {
    return this.ignoredDirs;
  }

  private options(): TreeOptions {
    return { backend: this.o.backend, ignore: this.ignoredDirs.map((d) => path.join(this.o.repo, d)) };
  }

  private readonly onEvents = (err: Error | null, events: ParcelEvent[]): void => {
    if (this.closed) return;
    if (err) return this.o.onError(err);
    const changes = toChanges(this.o.repo, events); // the root itself (deleted or moved) is left out: the repository guard notices
    if (changes.length) this.o.onChanges(changes);
  };

  private async start(): Promise<void> {
    this.sub = await this.o.parcel.subscribe(this.o.repo, this.onEvents, this.options());
  }

  /** Writes the snapshot atomically: a crash mid-write leaves the previous one whole. */
  async writeSnapshot(file: string): Promise<void> {
    const tmp = `${file}.tmp-${process.pid}`;
    await this.o.parcel.writeSnapshot(this.o.repo, tmp, this.options());
    fs.renameSync(tmp, file);
  }

  /**
   * What changed between the snapshot and the tree as it is now, in repo-relative paths; `early` is
   * that comparison already run by `kairos run`'s early start under this subscription.
   */
  async changesSince(file: string, early?: Promise<ParcelEvent[]>): Promise<RawChange[]> {
    const events = (await early?.catch(() => undefined)) ?? (await this.o.parcel.getEventsSince(this.o.repo, file, this.options()));
    return toChanges(this.o.repo, events);
  }

  /**
   * Crawls the tree afresh (with a new set of ignored folders, or the same after a storm) and
   * returns what differs from the tree the old subscription held.
   */
  async resubscribe(ignoredDirs: readonly string[], scratch: string): Promise<RawChange[]> {
    await this.writeSnapshot(scratch);
    await this.rewatch(ignoredDirs);
    try {
      return await this.changesSince(scratch);
    } finally {
      fs.rmSync(scratch, { force: true });
    }
  }

  /**
   * Subscribes afresh under other ignored folders, comparing with nothing: for a start that
   * subscribed under the last run's list and whose scan found another. What changed while neither
   * subscription watched is in the offline comparison that follows, against the last run's snapshot.
   */
  async rewatch(ignoredDirs: readonly string[]): Promise<void> {
    await this.sub?.unsubscribe();
    this.sub = undefined;
    this.ignoredDirs = ignoredDirs;
    await this.start();
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.sub;
    this.sub = undefined;
    await s?.unsubscribe();
  }
}

function toChanges(repo: string, events: readonly ParcelEvent[]): RawChange[] {
  const prefix = repo.endsWith(path.sep) ? repo : repo + path.sep;
  const out: RawChange[] = [];
  for (const e of events) if (e.path.startsWith(prefix)) out.push({ rel: e.path.slice(prefix.length).split(path.sep).join('/'), kind: e.type });
  return out;
}
