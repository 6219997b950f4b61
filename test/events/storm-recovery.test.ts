import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { missedInStorm } from '../../src/events/storm-recovery.js';
import { IgnoreRules } from '../../src/events/ignore-rules.js';
import { tempDir } from '../support/temp.js';

const tmp = tempDir('kairos-storm-');
after(() => tmp.cleanup());

test('after a storm, files the watcher never reported are found where the storm was, and nothing else', () => {
  const repo = tmp.dir;
  fs.mkdirSync(path.join(repo, 'old'), { recursive: true });
  fs.writeFileSync(path.join(repo, 'old/untouched.txt'), 'x');
  fs.writeFileSync(path.join(repo, '.gitignore'), 'build/\n');
  const past = new Date(Date.now() - 60_000);
  fs.utimesSync(path.join(repo, 'old/untouched.txt'), past, past);
  fs.utimesSync(path.join(repo, 'old'), past, past);
  const since = Date.now() - 1000;
  // The storm: a folder with files, some reported, some lost; a whole new folder lost; ignored output.
  fs.mkdirSync(path.join(repo, 'gen/a'), { recursive: true });
  fs.mkdirSync(path.join(repo, 'gen/lost-dir'), { recursive: true });
  fs.mkdirSync(path.join(repo, 'build'), { recursive: true });
  for (const f of ['gen/a/1.ts', 'gen/a/2.ts', 'gen/a/3.ts', 'gen/lost-dir/x.ts', 'build/out.js']) fs.writeFileSync(path.join(repo, f), f);
  const seen = new Set(['gen/a/1.ts']);
  const missed = missedInStorm(repo, new IgnoreRules(repo), ['gen/a', 'gen', ''], seen, since);
  assert.deepEqual(missed, ['.gitignore', 'gen/a/2.ts', 'gen/a/3.ts', 'gen/lost-dir/x.ts']);
});
