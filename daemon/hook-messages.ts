import type { HooksConfig } from '../src/agent/hooks.js';
import { redactText } from '../src/policy/filter.js';
import type { Logger } from '../src/report/logger.js';
import { stripTerminalEscapes } from '../src/report/terminal-text.js';

type Sink = NonNullable<HooksConfig['onSystemMessage']>;

/**
 * Where a hook's `systemMessage` goes: Claude Code shows it to the user, so Kairos does too — every
 * one (said once per session) in the daily log, the first few per session as a notification, so a
 * hook that answers on every tool call cannot flood the desktop.
 */
export function hookMessageSink(
  d: { notify(title: string, body: string): void; daily(text: string, repo?: string): void; log: Logger },
  o: { repo?: string; title: string; maxNotifications?: number },
): Sink {
  const seen = new Set<string>();
  let shown = 0;
  const max = o.maxNotifications ?? 3;
  return (message, about) => {
    const text = stripTerminalEscapes(redactText(message)).trim().slice(0, 2000);
    if (!text || seen.has(text)) return;
    seen.add(text);
    d.log.info({ repo: o.repo, event: about.event, hook: about.source, message: text }, 'hook message');
    d.daily(`hook message (${about.event}, ${sourceName(about.source)}): ${text}`, o.repo);
    if (shown++ < max) d.notify(o.title, text);
  };
}

/** A plugin's hooks file by its plugin folder; anything else by its path. */
function sourceName(source: string): string {
  const m = /[\\/]plugins[\\/]([^\\/]+)[\\/]/.exec(source);
  return m ? `plugin ${m[1]}` : source.replace(/#.*$/, '');
}
