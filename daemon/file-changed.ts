import type { StoredEvent } from '../src/events/event.js';
import { Settler } from '../src/pipeline/settle.js';
import type { Trigger } from '../src/policy/schema.js';

/**
 * FileChanged hooks fire once per settled batch of file changes, with the list of files: the same
 * quiet window as triggers (and held the same way during a git operation or a storm), but apart
 * from them, so a hook fires whether or not a trigger takes the files, and once however many
 * triggers do.
 */

/** A trigger that takes every file, for the settler's matching; it never becomes a task. */
const EVERY_FILE: Trigger = { name: 'FileChanged hooks', on: { fs: ['**'] }, notify: 'never', enabled: true };

export interface ChangedFile {
  /** Relative to the repository, with forward slashes. */
  path: string;
  /** Claude Code's kinds. */
  event: 'add' | 'change' | 'unlink';
}

export interface FileChangedOptions {
  /** Whether any FileChanged hook is configured for the repository (events are not held otherwise). */
  wanted(repo: string): boolean;
  settleMs(): number;
  fire(repo: string, files: ChangedFile[]): void;
}

const KINDS: Record<string, ChangedFile['event']> = { 'file.added': 'add', 'file.changed': 'change', 'file.removed': 'unlink' };

export class FileChangedBatches {
  private readonly settler: Settler;
  /** The kind of each held event's file (git events' files are changes). */
  private readonly kinds = new Map<number, ChangedFile[]>();

  constructor(private readonly o: FileChangedOptions) {
    this.settler = new Settler({
      defaultSettleMs: o.settleMs(),
      triggersFor: (repo) => (o.wanted(repo) ? [{ ...EVERY_FILE, settle_ms: o.settleMs() }] : []),
      onBatch: (batch) => this.settled(batch.repo, batch.eventIds),
      onSettled: () => {},
    });
  }

  add(events: readonly StoredEvent[]): void {
    const taken = events.filter((e) => e.origin !== 'daemon' && (KINDS[e.type] !== undefined || e.type.startsWith('git.')) && this.o.wanted(e.repo));
    for (const e of taken) {
      const kind = KINDS[e.type];
      const data: Record<string, unknown> = e.data;
      const gitPaths = data.paths;
      const files = kind && e.path ? [{ path: e.path, event: kind }] : Array.isArray(gitPaths) ? gitPaths.filter((p): p is string => typeof p === 'string').map((p) => ({ path: p, event: 'change' as const })) : [];
      if (files.length) this.kinds.set(e.id, files);
    }
    this.settler.add(taken.filter((e) => this.kinds.has(e.id)));
  }

  hold(repo: string, why: string): void {
    this.settler.hold(repo, why);
  }

  release(repo: string, why: string): void {
    this.settler.release(repo, why);
  }

  private settled(repo: string, eventIds: readonly number[]): void {
    // What happened to each file over the whole batch, against how it was before it.
    const byPath = new Map<string, ChangedFile['event'] | 'gone'>();
    for (const id of eventIds) {
      for (const f of this.kinds.get(id) ?? []) byPath.set(f.path, combine(byPath.get(f.path), f.event));
      this.kinds.delete(id);
    }
    const files = [...byPath]
      .filter((e): e is [string, ChangedFile['event']] => e[1] !== 'gone')
      .map(([p, event]) => ({ path: p, event }))
      .sort((a, b) => a.path.localeCompare(b.path));
    if (files.length) this.o.fire(repo, files);
  }

  dropRepo(repo: string): void {
    this.settler.dropRepo(repo);
  }

  stop(): void {
    this.settler.stop();
    this.kinds.clear();
  }
}

/**
 * Two changes of one file in a batch as one: created then written is still created; created then
 * removed never was ('gone', not reported); removed then created again is a change.
 */
function combine(before: ChangedFile['event'] | 'gone' | undefined, next: ChangedFile['event']): ChangedFile['event'] | 'gone' {
  if (before === undefined) return next;
  if (before === 'add' || before === 'gone') return next === 'unlink' ? 'gone' : 'add';
  if (before === 'unlink') return next === 'unlink' ? 'unlink' : 'change';
  return next === 'unlink' ? 'unlink' : 'change';
}
