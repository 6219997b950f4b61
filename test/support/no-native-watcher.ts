/**
 * Loaded with `node --import` (through NODE_OPTIONS) to make @parcel/watcher unavailable for real:
 * resolving it throws, as it would on a platform without a prebuilt binary. The daemon must then
 * fall back to chokidar and say why.
 */
import module from 'node:module';

const MESSAGE = 'Cannot find module @parcel/watcher (made unavailable by test/support/no-native-watcher)';

type Next = (specifier: string, context: unknown) => unknown;
interface Hooks {
  registerHooks?: (hooks: { resolve(specifier: string, context: unknown, next: Next): unknown }) => void;
  register(url: string): void;
}
const api = module as unknown as Hooks;

if (typeof api.registerHooks === 'function') {
  // Node 22.15+ and 23.5+: synchronous, in-thread hooks.
  api.registerHooks({
    resolve(specifier, context, next) {
      if (specifier === '@parcel/watcher' || specifier.startsWith('@parcel/watcher/')) throw new Error(MESSAGE);
      return next(specifier, context);
    },
  });
} else {
  // Node 20: the off-thread loader.
  const source = `export async function resolve(s, c, n) { if (s === '@parcel/watcher' || s.startsWith('@parcel/watcher/')) throw new Error(${JSON.stringify(MESSAGE)}); return n(s, c); }`;
  api.register(`data:text/javascript,${encodeURIComponent(source)}`);
}
