import type { EventDraft } from './event.js';
import type { EngineName } from './watch-engine.js';

export interface FsSourceOptions {
  repo: string;
  /** Extra ignore patterns from the policy, in .gitignore syntax. */
  ignore?: readonly string[];
  onEvents(drafts: EventDraft[]): void;
  onError(err: Error): void;
  /** A storm large enough to overflow the kernel queue began (true) or its recovery is done (false). */
  onStorm?(active: boolean): void;
  /** Paths the daemon itself is writing: their events are tagged `origin: daemon`. */
  isOwnWrite?(rel: string): boolean;
  /** Chooses the engine (KAIROS_WATCHER); default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * Where the tree's snapshot is kept ($KAIROS_HOME/watch). With it, a start reports what changed
   * while nothing watched (`origin: offline`) before live events; without it, nothing is recovered.
   */
  snapshotDir?: string;
  /** How often a changed tree's snapshot is rewritten (only when something changed). Default 60 s. */
  snapshotIntervalMs?: number;
  /**
   * Paths whose last stored event has not been acted on yet (never settled: a crash came first; or in
   * the batch of a task that has not started, which new events of its trigger join), and whether it
   * left the file present or gone. An offline change that finds the disk as that event says is that
   * same change, already stored: it is not reported again (it would sit twice in one batch).
   */
  pendingFileStates?(): ReadonlyMap<string, 'present' | 'gone'>;
  /** Start-up progress, for `kairos start` and `status`. */
  onProgress?(status: WatcherStatus): void;
  /** A path that cannot be recorded exactly; the caller logs it. */
  onRefused?(rel: string, reason: string): void;
  /** Something worth a log line (offline recovery counts, ignore reloads, storm recoveries). */
  onInfo?(msg: string, fields: Record<string, unknown>): void;
}

export interface WatcherStatus {
  engine: EngineName | null;
  backend: string | null;
  /** Why this engine. */
  reason: string;
  state: 'indexing' | 'watching' | 'failed' | 'closed';
  files: number;
  dirs: number;
  ignored_dirs: number;
  /** Since the watcher started, while indexing; how long indexing took, after. */
  elapsed_ms: number;
  /** What the start recovered from the snapshot, or why it could not. */
  offline: string;
  /** Changes the engine handed to JavaScript since start: an ignored folder, however busy, adds none. */
  raw_events: number;
  error: string | null;
}

export interface FsSource {
  /** Resolves once live events flow (after any offline changes were reported); rejects if the watcher cannot start. */
  ready: Promise<void>;
  /**
   * Resolves (never rejects) once the start's walk of the folders is over: what is left of indexing
   * runs off the main thread (the native crawl), so other start-up work can run beside it.
   */
  scanned?: Promise<void>;
  close(): Promise<void>;
  status(): WatcherStatus;
}

export function initialStatus(): WatcherStatus {
  return { engine: null, backend: null, reason: '', state: 'indexing', files: 0, dirs: 0, ignored_dirs: 0, elapsed_ms: 0, offline: '', raw_events: 0, error: null };
}
