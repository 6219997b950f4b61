import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);

/** The repository root (the folder with package.json), whether tests run from source or from dist/. */
export const REPO_ROOT = ((): string => {
  for (let dir = path.dirname(here); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${here}`);
  }
})();

/** True when this test run is the compiled one (dist/test/...). */
export const COMPILED = here.endsWith('.js');

/**
 * The node arguments a child process needs to import this run's modules: none for the compiled run,
 * tsx from source (loading tsx costs a child most of a second of CPU, so the compiled run skips it).
 */
export const TS_LOADER: readonly string[] = COMPILED ? [] : ['--import', 'tsx'];

/**
 * A sibling test module to run as a process: the compiled .js under dist/ or the .ts source through tsx.
 * Returns the node arguments that start it.
 */
export function nodeArgsFor(testModuleUrl: string, relative: string): string[] {
  const base = path.resolve(path.dirname(fileURLToPath(testModuleUrl)), relative);
  return COMPILED ? [base.replace(/\.ts$/, '.js')] : [...TS_LOADER, base.replace(/\.js$/, '.ts')];
}
