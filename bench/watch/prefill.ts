/**
 * Fills a store the way a long-lived daemon leaves it, through the real store API (EventStore,
 * TaskStore): events in batches of 100, every event settled and in its batch, one finished task per
 * batch. A day old, so nothing in them is due.
 */
import { openDb, storePath } from '../../src/store/db.js';
import { EventStore } from '../../src/store/event-store.js';
import { TaskStore } from '../../src/store/task-store.js';
import type { EventDraft } from '../../src/events/event.js';

export function prefillStore(home: string, repo: string, trigger: string, events: number): void {
  const db = openDb(storePath(home));
  try {
    const store = new EventStore(db);
    const tasks = new TaskStore(db);
    const base = Date.now() - 86_400_000;
    const CHUNK = 10_000;
    const BATCH = 100;
    for (let start = 0; start < events; start += CHUNK) {
      db.transaction(() => {
        const n = Math.min(CHUNK, events - start);
        const at = new Date(base + start).toISOString();
        const drafts: EventDraft[] = [];
        for (let i = start; i < start + n; i++) {
          drafts.push({ type: i % 3 ? 'file.changed' : 'file.added', repo, at, path: `src/d${i % 500}/f${i}.ts`, origin: 'user' } as EventDraft);
        }
        const stored = store.appendMany(drafts);
        store.markSettled(stored.map((e) => e.id), at);
        for (let b = 0; b < stored.length; b += BATCH) {
          const part = stored.slice(b, b + BATCH);
          const { taskId } = tasks.createBatchTask({ repo, trigger, kind: 'command', command: 'true', eventIds: part.map((e) => e.id), paths: part.map((e) => e.path!), at });
          tasks.move(taskId, 'queued', 'running', at);
          tasks.move(taskId, 'running', 'done', at, { exit_code: 0, duration_ms: 1 });
        }
      })();
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}
