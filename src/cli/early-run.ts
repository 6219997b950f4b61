import { beginEarlyWatch, releaseEarlyStarts } from '../events/early-watch.js';
import { lastWatchedRepos } from '../store/last-watched.js';
import { resolveHome, resolveRepo } from './context.js';

/**
 * The longest `kairos run` waits for its early walks before loading the rest: a huge tree's walk takes
 * seconds, and the control socket, which comes up once the daemon has loaded, must not wait that long.
 */
const EARLY_WAIT_MAX_MS = 300;

/**
 * The --home and --repo values of `kairos run`'s arguments, read leniently: the CLI parses them
 * properly next and reports any mistake; what this misreads is only a start not begun early.
 */
export function earlyRunArgs(args: readonly string[]): { home?: string; repos: string[] } {
  const repos: string[] = [];
  let home: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    if (flag !== '--repo' && flag !== '-r' && flag !== '--home') continue;
    const value = inline ?? args[++i];
    if (value === undefined) break;
    if (flag === '--home') home = value;
    else repos.push(value);
  }
  return { ...(home !== undefined ? { home } : {}), repos };
}

/**
 * `kairos run`'s first step, before the CLI and the daemon load: begins watching the repositories
 * named with --repo and those the last run watched (src/events/early-watch.ts), so their native
 * crawls run while the rest loads.
 * Returns once every early walk is over and its crawl under way, or after EARLY_WAIT_MAX_MS.
 */
export async function beginEarlyRun(args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const given = earlyRunArgs(args);
  const home = resolveHome(given.home, env);
  // The daemon watches the repositories it is given and those it watched before (the store's list).
  const repos = new Set<string>(lastWatchedRepos(home));
  for (const dir of given.repos) {
    try {
      repos.add(resolveRepo(dir));
    } catch {
      // the CLI says what is wrong with it
    }
  }
  if (!repos.size) return;
  const begun = [...repos].map((repo) => beginEarlyWatch({ repo, home, env }));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(begun), new Promise<void>((resolve) => (timer = setTimeout(resolve, EARLY_WAIT_MAX_MS)))]);
  clearTimeout(timer);
}

/** Closes whatever of the early start no watcher took over (the run is over, or never got as far as watching). */
export async function endEarlyRun(): Promise<void> {
  await releaseEarlyStarts();
}
