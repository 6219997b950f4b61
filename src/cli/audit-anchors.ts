import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../store/db.js';
import type { ChainReport } from '../store/audit-chain.js';
import { auditHashReader } from '../store/audit-store.js';
import { isAbsent } from '../core/errors.js';

const ANCHOR = /audit head: row (\d+) \(\d+ rows from \d+\), sha256 ([0-9a-f]{64})/g;

/**
 * The chain alone cannot catch someone who rewrote it wholesale (changed a row and recomputed every
 * hash after it, and the head). The daemon writes the head into the daily log at every start and
 * stop (AuditLog.anchor); a row anchored there must still hold that hash. This catches a rewrite
 * made after the anchor was written, unless the logs were rewritten too — it raises the bar, it is
 * not a proof.
 */
export function checkAnchors(home: string, db: Db, report: ChainReport): ChainReport {
  if (!report.ok) return report;
  const logs = path.join(home, 'logs');
  let files: string[];
  try {
    files = (fs.readdirSync(logs, { recursive: true, encoding: 'utf8' }) as string[]).filter((f) => f.endsWith('.md')).sort();
  } catch (e) {
    // No logs yet: no anchors to check. Logs that cannot be read are not "no anchors": verify says so.
    if (isAbsent(e)) return { ...report, anchors: 0 };
    throw e;
  }
  const hashOf = auditHashReader(db);
  let checked = 0;
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(logs, f), 'utf8');
    } catch (e) {
      if (isAbsent(e)) continue; // removed since the listing (retention)
      throw e;
    }
    for (const m of text.matchAll(ANCHOR)) {
      const id = Number(m[1]);
      const anchored = m[2]!;
      if (report.head && id < report.head.first_id) continue; // pruned on purpose, on the record in the head
      const hash = hashOf(id);
      checked++;
      if (hash !== anchored) {
        const found = hash !== undefined ? `the table's row ${id} now hashes to ${hash.slice(0, 16)}…` : `the table has no row ${id}`;
        return {
          ...report,
          ok: false,
          anchors: checked,
          problem: { kind: 'rewritten', id, message: `the daily log ${f} anchored row ${id} with sha256 ${anchored.slice(0, 16)}…, but ${found}: the chain was rewritten after that (its hashes recomputed)` },
        };
      }
    }
  }
  return { ...report, anchors: checked };
}
