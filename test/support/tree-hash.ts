import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * A digest of every file under a folder (names, bytes and modes), including ignored and untracked
 * files, but not .git: the user's working tree exactly as they see it.
 */
export function treeHash(root: string): string {
  const h = crypto.createHash('sha256');
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      if (dir === root && name === '.git') continue;
      const abs = path.join(dir, name);
      const st = fs.lstatSync(abs);
      const rel = path.relative(root, abs);
      if (st.isDirectory()) walk(abs);
      else if (st.isSymbolicLink()) h.update(`L ${rel} ${fs.readlinkSync(abs)}\n`);
      else h.update(`F ${rel} ${st.mode & 0o777} `).update(fs.readFileSync(abs)).update('\n');
    }
  };
  walk(root);
  return h.digest('hex');
}
