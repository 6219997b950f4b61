import picomatch from 'picomatch';
import type { StoredEvent } from '../events/event.js';
import type { Trigger } from '../policy/schema.js';

const globCache = new Map<string, (p: string) => boolean>();

function globMatcher(globs: readonly string[]): (p: string) => boolean {
  const key = globs.join('\0');
  let m = globCache.get(key);
  if (!m) {
    // picomatch's `.` stops at a line break; file names may contain one, so match with dotAll.
    const res = globs.map((g) => {
      const re = picomatch.makeRe(g, { dot: true });
      return new RegExp(re.source, re.flags.includes('s') ? re.flags : re.flags + 's');
    });
    m = (p: string) => res.some((re) => re.test(p));
    globCache.set(key, m);
  }
  return m;
}

/** Which paths of an event a trigger takes: null when the event does not fire it. */
export interface Match {
  paths: readonly string[];
}

const NO_PATHS: Match = { paths: [] };

/**
 * Does this stored event fire this trigger, and with which paths? The daemon's own changes never
 * fire anything. A git event that rewrote the work tree carries git's list of changed files
 * (`data.paths`), which fires fs triggers whose globs match, whatever the file watcher saw.
 */
export function matchTrigger(trigger: Trigger, event: StoredEvent): Match | null {
  if (!trigger.enabled || event.origin === 'daemon') return null;
  const on = trigger.on;
  if (event.type.startsWith('file.')) return on.fs && event.path && globMatcher(on.fs)(event.path) ? { paths: [event.path] } : null;
  if (event.type.startsWith('git.')) {
    const data: Record<string, unknown> = event.data;
    const gitPaths = data.paths;
    const fsPaths = on.fs && Array.isArray(gitPaths) ? gitPaths.filter((p): p is string => typeof p === 'string').filter(globMatcher(on.fs)) : [];
    if (on.git?.includes(event.type.slice(4))) return { paths: fsPaths };
    return fsPaths.length ? { paths: fsPaths } : null;
  }
  if (event.type === 'cron') return (event.data as { trigger?: string }).trigger === trigger.name ? NO_PATHS : null;
  if (event.type === 'manual') {
    const only = (event.data as { trigger?: string }).trigger;
    return (only ? only === trigger.name : !!on.manual) ? NO_PATHS : null;
  }
  return null;
}
