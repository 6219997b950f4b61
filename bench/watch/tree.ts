/**
 * Generated work trees. The watched tree has exactly `files` watched files (the two config files
 * included) in 40 top folders of 50 leaf folders each (2,042 folders with the root and src/); the variant
 * adds an ignored node_modules of `ignoredFiles` files, ignored by .gitignore (Kairos), by
 * .watchmanconfig (Watchman) and by the bench's ignore list (the raw watchers).
 */
import fs from 'node:fs';
import path from 'node:path';
import { runGit } from '../../test/support/git-repo.js';

const TOP = 40;
const LEAVES = 50;

export interface Tree {
  dir: string;
  files: number;
  /** Watched folders, the root included (.git and node_modules excluded). */
  dirs: number;
}

export function generateTree(dir: string, files: number): Tree {
  fs.mkdirSync(dir, { recursive: true });
  runGit(dir, ['init', '-q']);
  fs.writeFileSync(path.join(dir, '.gitignore'), 'node_modules/\n');
  fs.writeFileSync(path.join(dir, '.watchmanconfig'), JSON.stringify({ ignore_dirs: ['node_modules'] }) + '\n');
  const generated = files - 2;
  const perLeaf = Math.ceil(generated / (TOP * LEAVES));
  const dirs = new Set<string>();
  for (let i = 0; i < generated; i++) {
    const leaf = Math.floor(i / perLeaf);
    const d = path.join(dir, 'src', `p${Math.floor(leaf / LEAVES)}`, `m${leaf % LEAVES}`);
    if (!dirs.has(d)) {
      fs.mkdirSync(d, { recursive: true });
      dirs.add(d);
    }
    fs.writeFileSync(path.join(d, `f${i}.ts`), `export const v${i} = ${i};\n`);
  }
  const tops = new Set([...dirs].map((d) => path.dirname(d)));
  return { dir, files, dirs: 1 + 1 + tops.size + dirs.size };
}

/** Adds node_modules with `files` files in packages of 100 (each package: pkg/ and pkg/lib/). */
export function addIgnoredNodeModules(dir: string, files: number): number {
  let dirs = 1;
  for (let i = 0; i < files; i++) {
    const pkg = path.join(dir, 'node_modules', `pkg${Math.floor(i / 100)}`, 'lib');
    if (i % 100 === 0) {
      fs.mkdirSync(pkg, { recursive: true });
      dirs += 2;
    }
    fs.writeFileSync(path.join(pkg, `m${i}.js`), `module.exports = ${i};\n`);
  }
  return dirs;
}

/** Counts files and folders the way the watchers see the tree (without .git and node_modules). */
export function countTree(dir: string): { files: number; dirs: number } {
  let files = 0;
  let dirs = 0;
  const walk = (d: string): void => {
    dirs++;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name === '.git' || e.name === 'node_modules') continue;
      if (e.isDirectory()) walk(path.join(d, e.name));
      else files++;
    }
  };
  walk(dir);
  return { files, dirs };
}
