import fs from 'node:fs';
import path from 'node:path';

/** The first executable `name` on `envPath`, like the shell would find it. */
export function findExecutable(name: string, envPath: string): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}
