import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const sha256 = (b: Buffer | string): string => crypto.createHash('sha256').update(b).digest('hex');

/**
 * Every file, symlink and folder of a work tree (not .git, but ignored and untracked files too),
 * with its bytes' hash and mode: the user's tree exactly as they see it, comparable entry by entry.
 */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (r === '.git') continue;
      const abs = path.join(dir, r);
      const st = fs.lstatSync(abs);
      if (st.isSymbolicLink()) out[r] = `link:${fs.readlinkSync(abs)}`;
      else if (st.isDirectory()) {
        out[r] = 'dir';
        walk(r);
      } else out[r] = `file:${(st.mode & 0o7777).toString(8)}:${sha256(fs.readFileSync(abs))}`;
    }
  };
  walk('');
  return out;
}

/** One digest of snapshotTree: equal exactly when the trees are. */
export function treeHash(root: string): string {
  return sha256(JSON.stringify(snapshotTree(root)));
}
