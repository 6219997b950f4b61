/**
 * Every look a replay made, one block each: what the item held (commits with their subjects and
 * diff size, saved paths by kind), what triage answered, and whether an act-labelled commit was
 * among or near the commits it was about. Reads a replay kept with `--keep --json FILE`:
 *
 *   node dist/bench/replay/looks.js --json FILE --home KAIROS_HOME --scratch CLONE [--sleep-only]
 *
 * For reading why the remaining triage calls were made (bench/README.md, replay section), not a
 * score: the scores are the replay's own table.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { storePath } from '../../src/store/db.js';
import { isDocumentation } from '../../src/pipeline/doc-paths.js';
import { isCheckFile, isLockFile } from '../../src/pipeline/path-kinds.js';

interface KeptCommit {
  index: number;
  sha: string;
  replayedSha: string;
  act: boolean;
  reach?: string;
  label: { why: string };
}

interface Row {
  id: number;
  at: number;
  stage: string;
  outcome: string;
  why: string;
  event_ids: string;
}

function git(cwd: string, args: string[]): string {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  } catch {
    return '';
  }
}

function kindOf(p: string): string {
  if (isLockFile(p)) return 'lock';
  if (isDocumentation(p)) return 'doc';
  if (isCheckFile(p)) return 'check';
  return 'code';
}

export function main(argv = process.argv.slice(2)): void {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'string' }, home: { type: 'string' }, scratch: { type: 'string' }, 'sleep-only': { type: 'boolean' } } });
  if (!values.json || !values.home || !values.scratch) throw new Error('usage: looks.js --json FILE --home KAIROS_HOME --scratch CLONE [--sleep-only]');
  const kept = JSON.parse(fs.readFileSync(values.json, 'utf8')) as { commits: KeptCommit[] };
  const byReplayed = new Map(kept.commits.map((c) => [c.replayedSha, c]));
  const db = new Database(storePath(values.home), { readonly: true, fileMustExist: true });
  const rows = db.prepare(`SELECT id, at, stage, outcome, why, event_ids FROM decisions WHERE stage IN ('triage', 'action') ORDER BY id`).all() as Row[];
  const ev = db.prepare(`SELECT type, path, data FROM events WHERE id = ?`);
  const scratch = path.resolve(values.scratch);
  let n = 0;
  for (const r of rows) {
    if (values['sleep-only'] && r.outcome !== 'sleep') continue;
    n++;
    const ids = JSON.parse(r.event_ids) as number[];
    const commits: KeptCommit[] = [];
    const saved = new Map<string, number>();
    for (const id of ids) {
      const e = ev.get(id) as { type: string; path: string | null; data: string } | undefined;
      if (!e) continue;
      if (e.type === 'git.commit') {
        const c = byReplayed.get(String((JSON.parse(e.data) as { to?: unknown }).to));
        if (c) commits.push(c);
      } else if (e.path) saved.set(e.path, (saved.get(e.path) ?? 0) + 1);
    }
    const kinds: Record<string, number> = {};
    for (const p of saved.keys()) kinds[kindOf(p)] = (kinds[kindOf(p)] ?? 0) + 1;
    const near = kept.commits.filter((c) => c.act && commits.some((x) => Math.abs(x.index - c.index) <= 2));
    console.log(`#${r.id} ${new Date(r.at).toISOString().slice(11, 19)} ${r.stage}/${r.outcome}: ${r.why.slice(0, 100)}`);
    console.log(`  ${ids.length} events, ${saved.size} saved paths ${JSON.stringify(kinds)}${near.length ? `; act label near: ${near.map((c) => `#${c.index} ${c.sha.slice(0, 10)}`).join(', ')}` : ''}`);
    for (const c of commits) {
      const subject = git(scratch, ['log', '-1', '--format=%s', c.replayedSha]).trim();
      const stat = git(scratch, ['show', '--shortstat', '--format=', '-M', c.replayedSha]).trim();
      const names = git(scratch, ['show', '--name-status', '--format=', '-M', c.replayedSha]).trim().split('\n');
      console.log(`  commit #${c.index} ${c.sha.slice(0, 10)}${c.act ? ' [ACT]' : ''} ${subject.slice(0, 80)} | ${stat}`);
      for (const l of names.slice(0, 8)) console.log(`      ${l}`);
      if (names.length > 8) console.log(`      ... ${names.length - 8} more`);
    }
    if (!commits.length) for (const p of [...saved.keys()].slice(0, 8)) console.log(`    saved ${p}`);
  }
  console.log(`${n} looks`);
  db.close();
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
