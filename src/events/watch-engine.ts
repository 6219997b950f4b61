import { UnavailableError, messageOf } from '../core/errors.js';

/**
 * Which engine watches work trees. `native` is @parcel/watcher on the platform's own API (inotify,
 * FSEvents, ReadDirectoryChangesW): one watch per directory. `watchman` is @parcel/watcher talking to
 * a Watchman server (what large monorepos already run). `chokidar` is the pure-JS fallback for when
 * the native module cannot load: it costs a watch per file and has no snapshot.
 */
export type EngineName = 'native' | 'watchman' | 'chokidar';
export const ENGINE_PREFERENCES = ['auto', 'native', 'watchman', 'chokidar'] as const;
export type EnginePreference = (typeof ENGINE_PREFERENCES)[number];

export type ParcelBackend = 'inotify' | 'fs-events' | 'windows' | 'kqueue' | 'watchman';
export type ParcelWatcher = typeof import('@parcel/watcher');

export interface EngineChoice {
  name: EngineName;
  /** The @parcel/watcher backend, for the two native engines. */
  backend?: ParcelBackend;
  parcel?: ParcelWatcher;
  /** Why this engine, in words `status` and `doctor` can show. */
  reason: string;
}

export class EngineError extends UnavailableError {
  override name = 'EngineError';
}

/** The platform's own recursive API; never left to parcel's "default", which silently prefers Watchman. */
function platformBackend(): ParcelBackend {
  if (process.platform === 'darwin') return 'fs-events';
  if (process.platform === 'win32') return 'windows';
  if (process.platform === 'freebsd' || process.platform === 'openbsd') return 'kqueue';
  return 'inotify';
}

/** `KAIROS_WATCHER` (auto | native | watchman | chokidar), checked so a typo is an error rather than a silent fallback. */
export function enginePreference(env: NodeJS.ProcessEnv): EnginePreference {
  const raw = env.KAIROS_WATCHER?.trim();
  if (!raw) return 'auto';
  const known = ENGINE_PREFERENCES.find((p) => p === raw);
  if (known) return known;
  throw new EngineError(`KAIROS_WATCHER=${raw}: expected one of ${ENGINE_PREFERENCES.join(', ')}; unset it to choose automatically`);
}

async function loadParcel(): Promise<{ parcel?: ParcelWatcher; error?: string }> {
  try {
    const mod = (await import('@parcel/watcher')) as ParcelWatcher & { default?: ParcelWatcher };
    // CommonJS module: the functions sit on the namespace and on `default`, depending on the loader.
    const parcel = typeof mod.subscribe === 'function' ? mod : mod.default;
    if (!parcel || typeof parcel.subscribe !== 'function') return { error: '@parcel/watcher loaded without its subscribe function' };
    return { parcel };
  } catch (e) {
    return { error: messageOf(e).split('\n')[0] ?? String(e) };
  }
}

let cached: { key: string; choice: Promise<EngineChoice> } | undefined;

/**
 * Chooses the engine once per process (the native module is process-global). `auto` takes Watchman
 * when it works, else the native backend, else chokidar, and says why. Asking for an engine
 * explicitly that cannot run is an error, not a quiet fallback.
 */
export function chooseEngine(env: NodeJS.ProcessEnv): Promise<EngineChoice> {
  const pref = enginePreference(env);
  const key = `${pref}\0${env.WATCHMAN_SOCK ?? ''}`;
  if (cached?.key !== key) cached = { key, choice: resolveEngine(pref, env) };
  return cached.choice;
}

async function resolveEngine(pref: EnginePreference, env: NodeJS.ProcessEnv): Promise<EngineChoice> {
  if (pref === 'chokidar') return { name: 'chokidar', reason: 'chosen with KAIROS_WATCHER=chokidar' };
  const { parcel, error } = await loadParcel();
  if (!parcel) {
    if (pref !== 'auto') throw new EngineError(`KAIROS_WATCHER=${pref}, but @parcel/watcher cannot load: ${error}`);
    return { name: 'chokidar', reason: `@parcel/watcher cannot load (${error}); chokidar costs one watch per file and cannot see changes made while Kairos is stopped` };
  }
  if (pref === 'native') return { name: 'native', backend: platformBackend(), parcel, reason: 'chosen with KAIROS_WATCHER=native' };
  // Loaded here, not at the top: `kairos run`'s first moments (early-watch.ts) choose the engine too,
  // and on `native` must not wait for the schema library the Watchman check reads its answer with.
  const wm = (await import('./watchman-available.js')).watchmanAvailable(env);
  if (pref === 'watchman') {
    if (!wm.ok) throw new EngineError(`KAIROS_WATCHER=watchman, but ${wm.why}`);
    return { name: 'watchman', backend: 'watchman', parcel, reason: `chosen with KAIROS_WATCHER=watchman (${wm.why})` };
  }
  if (wm.ok) return { name: 'watchman', backend: 'watchman', parcel, reason: `watchman is installed (${wm.why})` };
  return { name: 'native', backend: platformBackend(), parcel, reason: `@parcel/watcher on ${platformBackend()} (${wm.why})` };
}
