import fs from 'node:fs';
import path from 'node:path';
import type { AsyncSubscription, Event as ParcelEvent, SubscribeCallback } from '@parcel/watcher';
import { messageOf } from '../core/errors.js';
import { IgnoreRules } from './ignore-rules.js';
import { sameDirList, scanTree, type ScanProgress, type TreeScan } from './tree-scan.js';
import { TreeSnapshot } from './tree-snapshot.js';
import { chooseEngine, type ParcelBackend, type ParcelWatcher } from './watch-engine.js';

/**
 * `kairos run` begins watching its work trees in its first moments, before the daemon's code has
 * loaded: the native crawl of a big tree (most of the time to "ready") then runs on parcel's thread
 * while this one loads modules, opens the store and reads the policy. The watcher of each tree
 * (native-source.ts) takes over what was begun when it asks for the same tree under the same ignored
 * folders, and starts afresh when not; what nobody takes is closed once the start is over.
 *
 * What can be known this early, without the policy: the tree's ignore files (`.gitignore`,
 * `.kairosignore`, `.git/info/exclude`) and, on a restart, the ignored folders and the snapshot the
 * last run left. A policy `ignore` list is only known later: a first start under one scans again.
 */

/** Parcel's events for a subscription made before its watcher existed, held until the watcher takes it over. */
export class EarlySubscription {
  private target: SubscribeCallback | undefined;
  private held: Array<[Error | null, ParcelEvent[]]> = [];
  handle: AsyncSubscription | undefined;

  readonly callback: SubscribeCallback = (err, events) => {
    if (this.target) this.target(err, events);
    else this.held.push([err, events]);
  };

  constructor(readonly ignoredDirs: readonly string[]) {}

  /** From now on events go to `fn`, beginning with those that arrived before it, in order. */
  attach(fn: SubscribeCallback): void {
    this.target = fn;
    for (const [err, events] of this.held.splice(0)) fn(err, events);
  }
}

export interface EarlyStartOptions {
  repo: string;
  home: string;
  env: NodeJS.ProcessEnv;
}

interface EarlyTree {
  repo: string;
  startedAt: number;
  /** Settles once the crawl is under way, or once the early start has given up. */
  begun: Promise<void>;
  backend?: ParcelBackend;
  parcel?: ParcelWatcher;
  /** A first start's walk for the ignored folders, under the ignore files alone; and its progress while it runs. */
  scan?: TreeScan;
  progress?: ScanProgress;
  subscription: Promise<EarlySubscription | undefined>;
  /** A restart's comparison with the last snapshot (this file), begun once subscribed. */
  offline?: { file: string; events: Promise<ParcelEvent[]> };
  /** Why the early start stopped short (the watcher then starts as it would have). */
  failed?: string;
}

const trees = new Map<string, EarlyTree>();

function ignorePaths(repo: string, ignoredDirs: readonly string[]): string[] {
  return ignoredDirs.map((d) => path.join(repo, d));
}

async function subscribe(t: EarlyTree, parcel: ParcelWatcher, backend: ParcelBackend, ignoredDirs: readonly string[]): Promise<EarlySubscription | undefined> {
  const early = new EarlySubscription(ignoredDirs);
  try {
    early.handle = await parcel.subscribe(t.repo, early.callback, { backend, ignore: ignorePaths(t.repo, ignoredDirs) });
    return early;
  } catch (e) {
    t.failed = `could not subscribe early: ${messageOf(e)}`;
    return undefined;
  }
}

/**
 * Begins one work tree: subscribes under the ignored folders of the last snapshot (a restart) or of
 * a walk under the tree's own ignore files (a first start). Resolves once the native crawl is under
 * way, which is what the caller waits for; never rejects (an early start that fails only means the
 * watcher starts as it would have). The tree is registered at once, so a watcher that asks while
 * this is still choosing the engine waits for it rather than missing it.
 */
export function beginEarlyWatch(o: EarlyStartOptions): Promise<void> {
  const known = trees.get(o.repo);
  if (known) return known.begun;
  let begun!: () => void;
  const t: EarlyTree = { repo: o.repo, startedAt: Date.now(), begun: new Promise<void>((r) => (begun = r)), subscription: Promise.resolve(undefined) };
  trees.set(o.repo, t);
  void begin(t, o)
    .catch((e: unknown) => (t.failed = `early start failed: ${messageOf(e)}`))
    .finally(begun);
  return t.begun;
}

async function begin(t: EarlyTree, o: EarlyStartOptions): Promise<void> {
  let engine;
  try {
    engine = await chooseEngine(o.env);
  } catch {
    return; // the daemon meets the same error (the choice is cached) and says it
  }
  const { parcel, backend } = engine;
  if (!parcel || !backend) return; // chokidar: nothing to begin early
  Object.assign(t, { parcel, backend });
  const snapshotDir = path.join(o.home, 'watch');
  const base = hasDir(snapshotDir) ? new TreeSnapshot(snapshotDir, o.repo, backend) : undefined;
  const baseline = base?.baseline();
  if (base && baseline?.usable && baseline.ignoredDirs) {
    const dirs = baseline.ignoredDirs;
    t.subscription = subscribe(t, parcel, backend, dirs);
    // Subscribe first, compare second (as native-source.ts does); the comparison runs on parcel's thread.
    const events = t.subscription.then((s) => (s ? parcel.getEventsSince(o.repo, base.file, { backend, ignore: ignorePaths(o.repo, dirs) }) : []));
    events.catch(() => undefined); // taken over or not, a failed comparison is the watcher's to run again
    t.offline = { file: base.file, events };
    return;
  }
  t.scan = await scanTree(o.repo, new IgnoreRules(o.repo, []), (p) => (t.progress = p));
  t.progress = undefined;
  t.subscription = subscribe(t, parcel, backend, t.scan.ignoredDirs);
}

function hasDir(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false; // no state folder yet: a first start, nothing saved to read
  }
}

/** What a work tree's watcher may take over of its early start; each part only if it is what the watcher would do itself. */
export class EarlyStart {
  private claimed = false;

  constructor(
    private readonly t: EarlyTree,
    private readonly backend: ParcelBackend | undefined,
  ) {}

  get startedAt(): number {
    return this.t.startedAt;
  }

  /** How far the early walk is, while it runs: what `status` shows meanwhile. */
  progress(): ScanProgress | undefined {
    return this.t.progress;
  }

  /** Why the early start stopped short, if it did (logged by the watcher). */
  get failed(): string | undefined {
    return this.t.failed;
  }

  /** The early walk, when it ran under the same rules: the tree's ignore files and no policy `ignore` list. */
  async scanFor(policyIgnore: readonly string[]): Promise<TreeScan | undefined> {
    await this.t.begun;
    return policyIgnore.length === 0 && this.t.backend === this.backend ? this.t.scan : undefined;
  }

  /** The early subscription, when it watches under exactly these ignored folders. */
  async subscriptionFor(ignoredDirs: readonly string[]): Promise<EarlySubscription | undefined> {
    await this.t.begun;
    if (this.t.backend !== this.backend) return undefined;
    const s = await this.t.subscription;
    if (!s || this.claimed || !sameDirList(s.ignoredDirs, ignoredDirs)) return undefined;
    this.claimed = true;
    return s;
  }

  /**
   * The early comparison with this snapshot file, when the subscription it ran under was taken over;
   * once (a watcher that re-subscribes afterwards compares afresh under its new subscription).
   */
  offlineFor(file: string): Promise<ParcelEvent[]> | undefined {
    const offline = this.t.offline;
    if (!this.claimed || offline?.file !== file) return undefined;
    this.t.offline = undefined;
    return offline.events;
  }

  /** Closes the early subscription unless it was taken over. */
  async release(): Promise<void> {
    if (this.claimed) return;
    this.claimed = true;
    await this.t.begun;
    const s = await this.t.subscription;
    await s?.handle?.unsubscribe().catch(() => undefined);
  }
}

/** The early start of `repo` on this backend, once: the watcher that takes it must `release()` it when its own start is over. */
export function takeEarlyStart(repo: string, backend: ParcelBackend): EarlyStart | undefined {
  const t = trees.get(repo);
  if (!t) return undefined;
  trees.delete(repo);
  return new EarlyStart(t, backend);
}

/** Closes every early start no watcher took (a repository the daemon did not watch after all). */
export async function releaseEarlyStarts(): Promise<number> {
  const left = [...trees.values()];
  trees.clear();
  await Promise.all(left.map((t) => new EarlyStart(t, t.backend).release()));
  return left.length;
}
