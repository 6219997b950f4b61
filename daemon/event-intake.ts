import { EventDraft, type StoredEvent } from '../src/events/event.js';
import { touchesTrust } from './repo-trust.js';
import { pokeTargets } from './poke-targets.js';
import type { DaemonParts } from './daemon-parts.js';

/** What event intake uses of the daemon's parts. */
export type EventIntakeDeps = Pick<DaemonParts, 'log' | 'guard' | 'lastUserEdit' | 'refreshPolicy' | 'ambient' | 'settler' | 'fileChanges' | 'repos'>;

/** Events in: validated, stored first, then handed to the settlers, ambient and the trust re-check. */
export class EventIntake {
  constructor(private readonly d: EventIntakeDeps) {}

  /**
   * Every event is stored before the pipeline sees it. `alsoInTransaction` commits with the events
   * (the git state they lead to), so a crash cannot store one without the other.
   */
  ingest(drafts: readonly unknown[], alsoInTransaction?: () => void): StoredEvent[] {
    const valid: EventDraft[] = [];
    for (const d of drafts) {
      const parsed = EventDraft.safeParse(d);
      if (parsed.success) valid.push(parsed.data);
      else this.d.log.error({ event: d, issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }, 'invalid event dropped');
    }
    // Empty while the disk is full: the events are held and reach afterStored once written.
    const stored = this.d.guard.write(valid, alsoInTransaction);
    this.afterStored(stored);
    return stored;
  }

  afterStored(stored: StoredEvent[]): void {
    for (const e of stored) if (e.type.startsWith('file.') && e.origin === 'user') this.d.lastUserEdit.set(e.repo, new Date(e.at));
    for (const repo of new Set(stored.filter(touchesTrust).map((e) => e.repo))) this.d.refreshPolicy(repo, 'a git or policy file event');
    this.d.ambient.noteEvents(stored);
    if (stored.length) {
      this.d.settler.add(stored);
      this.d.fileChanges.add(stored);
    }
  }

  poke(repo: string | undefined, note: string | undefined, trigger: string | undefined): StoredEvent[] {
    const targets = pokeTargets(new Map([...this.d.repos].map(([k, r]) => [k, r.policy.policy])), repo, trigger);
    const at = new Date().toISOString();
    const stored = this.ingest(targets.map((r) => ({ type: 'manual', repo: r, at, origin: 'user', data: { ...(note ? { note } : {}), ...(trigger ? { trigger } : {}) } })));
    // A poke no trigger takes is the user asking Kairos itself to look, now.
    for (const e of stored) {
      const manualTrigger = this.d.repos.get(e.repo)?.policy.policy.triggers.some((t) => t.enabled && t.on.manual);
      if (!trigger && !manualTrigger) this.d.ambient.offerPoke(e, note);
    }
    return stored;
  }
}
