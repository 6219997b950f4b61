import fs from 'node:fs';
import path from 'node:path';
import { openDb, storePath } from '../../../src/store/db.js';
import { leaked } from './secrets.js';

/** Every place a Kairos home writes text that leaves the daemon or outlives it, by name. */
export function kairosOutputs(home: string): Record<string, string> {
  const read = (f: string): string => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
  const out: Record<string, string> = {
    'logs/kairos.log': read(path.join(home, 'logs', 'kairos.log')),
    'notifications.jsonl': read(path.join(home, 'notifications.jsonl')),
  };
  const walk = (d: string): void => {
    for (const n of fs.existsSync(d) ? fs.readdirSync(d) : []) {
      const abs = path.join(d, n);
      if (fs.statSync(abs).isDirectory()) walk(abs);
      else if (n.endsWith('.md')) out[path.relative(home, abs)] = read(abs);
    }
  };
  walk(path.join(home, 'logs'));
  const db = openDb(storePath(home));
  try {
    out['audit table'] = JSON.stringify(db.prepare('SELECT * FROM audit').all());
    // Task reasons are shown by `kairos tasks` and in reports; raw command output stays local and is not scanned.
    out['tasks table'] = JSON.stringify(db.prepare('SELECT id, trigger, state, reason FROM tasks').all());
  } finally {
    db.close();
  }
  return out;
}

/** `where: secretName` for every secret found in any of `texts`. */
export function leaksIn(texts: Record<string, string>): string[] {
  return Object.entries(texts).flatMap(([where, text]) => leaked(text).map((s) => `${where}: ${s}`));
}
