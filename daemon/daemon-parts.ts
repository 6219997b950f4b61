import type { Settler } from '../src/pipeline/settle.js';
import type { TaskRunner } from '../src/pipeline/runner.js';
import type { AuditLog } from '../src/policy/audit.js';
import type { Policy } from '../src/policy/schema.js';
import type { Db } from '../src/store/db.js';
import type { EventStore } from '../src/store/event-store.js';
import type { RepoStore } from '../src/store/repo-store.js';
import type { TaskStore } from '../src/store/task-store.js';
import type { BatchingNotifier } from '../src/report/notify-batch.js';
import type { Logger } from '../src/report/logger.js';
import type { ModelClient } from '../src/model/client.js';
import type { AgentTasks } from './agent-tasks.js';
import type { ApprovalExpiry } from './recovery.js';
import type { FileChangedBatches } from './file-changed.js';
import type { DbusNotifier } from '../src/report/dbus-notify.js';
import type { Ambient } from './ambient.js';
import type { ApprovalQueue } from '../src/pipeline/approvals.js';
import type { CommandTasks } from './command-tasks.js';
import type { Reporter } from './reporter.js';
import type { InstanceLock } from './lock.js';
import type { StoreGuard } from './store-guard.js';
import type { RetentionJob } from './retention-job.js';
import type { PolicyWatch } from './policy-watch.js';
import type { WatchedRepo } from './repo-wiring.js';
import type { DaemonHooks } from './daemon-hooks.js';
import type { OwnWrites } from './own-writes.js';
import type { StoredEvent } from '../src/events/event.js';
import type { PolicyState } from './policy-state.js';

/**
 * The parts the Daemon's constructor wires together, as its roles see them: the start/stop sequence
 * (start-stop.ts), status (daemon-status.ts), task dispatch (task-dispatch.ts), repository wiring
 * (repo-wiring.ts), event intake (event-intake.ts) and the policy's reloads (policy-state.ts). Each
 * takes the Pick it needs. What changes while the daemon runs is read and set through functions.
 */
export interface DaemonParts {
  home: string;
  /** The repositories given at start (added to those the daemon already watched). */
  startRepos: readonly string[];
  startedAt: Date;
  env: NodeJS.ProcessEnv;
  log: Logger;
  lock: InstanceLock;
  db: Db;
  events: EventStore;
  tasks: TaskStore;
  repoStore: RepoStore;
  audit: AuditLog;
  model: ModelClient;
  approvals: ApprovalQueue;
  agents: AgentTasks;
  ambient: Ambient;
  commands: CommandTasks;
  reporter: Reporter;
  batching: BatchingNotifier;
  proposalNotifier: DbusNotifier | null;
  settler: Settler;
  fileChanges: FileChangedBatches;
  retention: RetentionJob;
  guard: StoreGuard;
  hooks: DaemonHooks;
  ownWrites: OwnWrites;
  /** The user's policy, its plugins and its reloads. */
  policy: PolicyState;
  /** The watched repositories: repo-wiring.ts adds and removes them, the other roles read them. */
  repos: Map<string, WatchedRepo>;
  /** The last change the user made in each repository, for the gate's edit back-off. */
  lastUserEdit: Map<string, Date>;
  runner: TaskRunner;
  userPolicy(): Policy;
  addRepo(repo: string): Promise<void>;
  refreshPolicy(repo: string, why: string): void;
  ingest(drafts: readonly unknown[], alsoInTransaction?: () => void): StoredEvent[];
  /** True once the daemon is stopping: a repository that finishes indexing then is not started. */
  stopping(): boolean;
  indexing(): boolean;
  /** Set once every repository's watcher is indexed and live. */
  indexed(): void;
  setWatching(all: Promise<void>): void;
  expiry(): ApprovalExpiry | undefined;
  setExpiry(expiry: ApprovalExpiry): void;
  policyWatch(): PolicyWatch | undefined;
  setPolicyWatch(watch: PolicyWatch): void;
}
