import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A temp folder removed when the test ends. */
export function tempDir(prefix = 'kairos-'): { dir: string; cleanup: () => void } {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
