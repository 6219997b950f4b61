import fs from 'node:fs';
import path from 'node:path';
import { makeRepo, type TestRepo } from './git-repo.js';

/**
 * A real repository of `files` small committed files (100 a folder, under src/dNNN/), for measuring
 * what grows with a repository's size. File src/d0/f0.ts has a known line the tests edit.
 */
export function makeSizedRepo(files: number, prefix = 'kairos-sized-'): TestRepo {
  const repo = makeRepo({ prefix });
  for (let i = 0; i < files; i++) {
    const dir = path.join(repo.dir, 'src', `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `f${i % 100}.ts`), `export const value${i} = ${i};\n// file ${i} of ${files}\n`);
  }
  repo.git('add', '-A');
  repo.git('commit', '-q', '-m', `${files} files`);
  return repo;
}
