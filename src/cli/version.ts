import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** The two fields of a package.json read here; a file without them is some other package's. */
const PackageJson = z.looseObject({ name: z.string().optional(), version: z.string().optional() });

/**
 * Kairos's own version, from the package.json of the installed package: found by walking up from
 * this file (dist/src/cli when built, src/cli from source), never from the current folder.
 */
export function kairosVersion(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = PackageJson.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
      if (pkg.success && pkg.data.name === 'kairos' && pkg.data.version) return pkg.data.version;
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}
