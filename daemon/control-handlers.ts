import { ControlError } from '../src/cli/protocol.js';
import type { ControlHandler } from './control-server.js';
import type { Daemon } from './daemon.js';
import { bashGrammarLoaded } from '../src/policy/shell-grammar.js';
import { cronLibsLoaded } from '../src/events/cron-libs.js';
import { dbusNextLoaded } from '../src/report/dbus-notify.js';
import { runningFromBundle } from '../src/core/package-root.js';

function str(params: Record<string, unknown>, key: string): string | undefined {
  const v = params[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ControlError(`parameter '${key}' must be a string`, 'bad_params');
  return v;
}

/** The daemon's control methods. Listings are read straight from SQLite by the CLI; these need the live process. */
export function controlHandlers(d: Daemon, requestStop: (reason: string) => void): Record<string, ControlHandler> {
  return {
    status: () => d.status(),
    // Which of the parts loaded on first use this process has loaded so far (tests and start-up profiling),
    // and whether its code is the bundle (scripts/bundle.mjs) that the bin runs when the build made one.
    'debug.lazy_modules': () => ({ bash_grammar: bashGrammarLoaded(), cron: cronLibsLoaded(), dbus: dbusNextLoaded(), bundled: runningFromBundle() }),
    poke: async (p) => {
      const repo = str(p, 'repo');
      const note = str(p, 'note');
      // UserPromptSubmit hooks see a note before anything is stored; a block refuses the poke, with their reason.
      const submitted = note ? await d.submitNote(repo, note) : undefined;
      if (submitted && 'blocked' in submitted) throw new ControlError(`a UserPromptSubmit hook blocked the note: ${submitted.blocked}`, 'blocked');
      return { events: d.poke(repo, submitted?.note, str(p, 'trigger')).map((e) => e.id) };
    },
    reload: () => d.reload(),
    // `kairos dream`: answers once the dream(s) finished, with each repository's result.
    dream: async (p) => ({ results: await d.ambient.dreamNow(str(p, 'repo')) }),
    // Retention runs on its own schedule; this runs it now and answers with what it removed.
    prune: () => d.prune(),
    add_repo: async (p) => {
      const repo = str(p, 'repo');
      if (!repo) throw new ControlError("add_repo needs 'repo'", 'bad_params');
      await d.addRepo(repo);
      return { watching: repo };
    },
    remove_repo: async (p) => {
      const repo = str(p, 'repo');
      if (!repo) throw new ControlError("remove_repo needs 'repo'", 'bad_params');
      return { removed: await d.removeRepo(repo) };
    },
    apply: async (p) => {
      const repo = str(p, 'repo');
      const id = str(p, 'id');
      const hash = str(p, 'hash');
      if (!repo || !id || !hash) throw new ControlError("apply needs 'repo', 'id' and 'hash'", 'bad_params');
      return d.agents.apply(repo, id, hash);
    },
    undo: async (p) => {
      const repo = str(p, 'repo');
      const id = str(p, 'id');
      if (!repo || !id) throw new ControlError("undo needs 'repo' and 'id'", 'bad_params');
      return d.agents.undo(repo, id, p.force === true);
    },
    stop: () => {
      // Answer first, then stop: the caller waits for the pid to go away.
      setImmediate(() => requestStop('stop requested over the control socket'));
      return { stopping: true, pid: process.pid };
    },
  };
}
