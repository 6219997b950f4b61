import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/temp.js';

// scripts/check-sql-in-store.mjs, run by `npm run lint`: SQL only in src/store (docs/ARCHITECTURE.md).
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const script = path.join(root, 'scripts', 'check-sql-in-store.mjs');

const temps: Array<{ cleanup(): void }> = [];
after(() => temps.forEach((t) => t.cleanup()));

/** A tree with the given files (paths relative to it), checked by the script. */
function check(files: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const t = tempDir('kairos-sqlcheck-');
  temps.push(t);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(t.dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(t.dir, rel), text);
  }
  const r = spawnSync(process.execPath, [script, t.dir], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('check-sql-in-store', () => {
  test('passes on this repository', () => {
    const r = spawnSync(process.execPath, [script], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /no SQL outside src\/store \(\d+ files parsed\)/);
  });

  test('fails on a db.prepare outside src/store, naming file, line, column and the fix', () => {
    const r = check({
      'src/model/ledger-copy.ts': `import type { Db } from '../store/db.js';\n\nexport function spent(db: Db): unknown {\n  return db.prepare('SELECT sum(cost_micro) FROM spend_reservations').get();\n}\n`,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^src\/model\/ledger-copy\.ts:4:13: calls \.prepare\( outside src\/store; move the statement into a src\/store module/m);
    assert.match(r.stderr, /1 finding\b/);
  });

  test('catches every way of reaching SQLite outside src/store', () => {
    const r = check({
      'src/policy/a.ts': `import type Database from 'better-sqlite3';\nexport type D = Database.Database;\n`,
      'src/cli/b.ts': `export const load = () => import('better-sqlite3');\n`,
      'daemon/c.ts': `export class C {\n  constructor(private readonly db: { exec(s: string): void }) {}\n  wipe(): void {\n    this.db.exec('DELETE FROM events');\n  }\n}\n`,
      'src/pipeline/d.ts': `export const mode = (h: { pragma(s: string): unknown }) => h.pragma('journal_mode');\n`,
      'src/agent/e.ts': `export const make = (handle: { exec(s: string): void }) => handle.exec(\`CREATE TABLE t (x)\`);\n`,
      'src/report/f.ts': `export const g = (o: { store: { db: { exec(s: string): void } } }, sql: string) => o.store.db.exec(sql);\n`,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^src\/policy\/a\.ts:1:1: imports better-sqlite3/m);
    assert.match(r.stderr, /^src\/cli\/b\.ts:1:\d+: imports better-sqlite3/m);
    assert.match(r.stderr, /^daemon\/c\.ts:4:\d+: runs SQL with \.exec\(/m);
    assert.match(r.stderr, /^src\/pipeline\/d\.ts:1:\d+: calls \.pragma\(/m);
    assert.match(r.stderr, /^src\/agent\/e\.ts:1:\d+: runs SQL with \.exec\(/m);
    assert.match(r.stderr, /^src\/report\/f\.ts:1:\d+: runs SQL with \.exec\(/m);
    assert.match(r.stderr, /6 findings/);
  });

  test('lets src/store hold SQL, and leaves RegExp#exec and composed transactions alone elsewhere', () => {
    const r = check({
      'src/store/x-store.ts': `import Database from 'better-sqlite3';\nexport const open = (f: string) => { const db = new Database(f); db.pragma('journal_mode = WAL'); db.exec('CREATE TABLE t (x)'); return db.prepare('SELECT 1'); };\n`,
      'src/policy/words.ts': `const RE = /^(\\d+)$/;\nexport const n = (line: string) => RE.exec(line)?.[1] ?? /x/.exec(line)?.[0] ?? new RegExp('y').exec(line);\n`,
      'src/pipeline/both.ts': `export const both = (db: { transaction(f: () => void): () => void }, a: () => void) => db.transaction(a)();\n`,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /no SQL outside src\/store \(3 files parsed\)/);
  });

  test('a file that does not parse is a finding, not a pass', () => {
    const r = check({ 'src/model/broken.ts': `export const x = db.prepare(;\n` });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^src\/model\/broken\.ts:\d+:\d+: does not parse/m);
  });
});
