import { packageVersion } from '../core/package-root.js';

/**
 * Kairos's own version, from the package.json of the installed package (src/core/package-root.ts finds
 * it from the code's own location, bundled or not), never from the current folder.
 */
export function kairosVersion(): string {
  return packageVersion();
}
