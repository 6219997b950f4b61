import picomatch from 'picomatch';
import type { StoredEvent } from '../events/event.js';
import type { Trigger } from '../policy/schema.js';

const globCache = new Map<string, (p: string) => boolean>();

function globMatcher(globs: readonly string[]): (p: string) => boolean {
  const key = globs.join('\0');
  let m = globCache.get(key);
  if (!m) {
    m = picomatch(globs as string[], { dot: true });
    globCache.set(key, m);
  }
  return m;
}

/** Does this stored event fire this trigger? The daemon's own changes never do. */
export function triggerMatches(trigger: Trigger, event: StoredEvent): boolean {
  if (!trigger.enabled || event.origin === 'daemon') return false;
  const on = trigger.on;
  if (event.type.startsWith('file.')) return !!on.fs && !!event.path && globMatcher(on.fs)(event.path);
  if (event.type.startsWith('git.')) return !!on.git && on.git.includes(event.type.slice(4));
  if (event.type === 'cron') return (event.data as { trigger?: string }).trigger === trigger.name;
  if (event.type === 'manual') {
    const only = (event.data as { trigger?: string }).trigger;
    return only ? only === trigger.name : !!on.manual;
  }
  return false;
}
