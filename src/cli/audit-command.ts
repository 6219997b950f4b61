import fs from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { AuditLog, type AuditRow } from '../policy/audit.js';
import { storePath } from '../store/db.js';
import type { ChainReport } from '../store/audit-chain.js';
import { resolveRepo } from './context.js';
import { visibleControls } from './diff-view.js';
import { withStore } from './listings.js';
import { checkAnchors } from './audit-anchors.js';
import { parseLimit, printJson, printTable } from './output.js';
import { messageOf } from '../core/errors.js';

/**
 * `kairos audit` lists what every policy layer decided for every step (newest first, redacted as
 * stored); `kairos audit verify` walks the hash chain and names the first row that was changed,
 * inserted or deleted. Both read the store directly, so they work with the daemon down.
 */
export function registerAuditCommand(program: Command, deps: { home(): string; setExitCode(code: number): void }): void {
  const audit = program
    .command('audit')
    .description('list the audit: every step (tool call, trigger command, model call, approval, apply, undo, trust, reload) and what each of the eight layers decided')
    .option('--json', 'print a JSON array of rows {id, at, repo, task_id, trigger, origin, what, layer, verdict, reason, rule, final, eval_id, prev_hash, hash}')
    .option('-t, --task <id>', 'only this task', taskId)
    .option('-r, --repo <dir>', 'only this repository')
    .option('-l, --limit <n>', 'at most this many rows', limit, 200)
    .action((o: { json?: boolean; task?: number; repo?: string; limit: number }) => {
      listAudit(deps.home(), { json: !!o.json, limit: o.limit, ...(o.task !== undefined ? { taskId: o.task } : {}), ...(o.repo ? { repo: resolveRepo(o.repo) } : {}) });
    });
  audit
    .command('verify')
    .description('check the hash chain, and the heads the daemon anchored in the daily log: exit 0 when intact, 1 naming the first changed, inserted or deleted row')
    .option('--json', 'print {ok, rows, head, anchors, problem?: {kind, id, message}}')
    .action((o: { json?: boolean }) => {
      const r = verifyAudit(deps.home());
      // `--json` after `verify` is parsed as the parent's option too (commander shares them).
      if (o.json || audit.opts<{ json?: boolean }>().json) printJson(r);
      else process.stdout.write(formatVerify(r) + '\n');
      deps.setExitCode(r.ok ? 0 : 1);
    });
}

function taskId(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--task ${v}: expected a task id (a whole number), as 'kairos tasks' lists them`);
  return n;
}

function limit(v: string): number {
  try {
    return parseLimit(v);
  } catch (e) {
    throw new InvalidArgumentError(messageOf(e));
  }
}

function listAudit(home: string, o: { json: boolean; limit: number; taskId?: number; repo?: string }): void {
  const rows: AuditRow[] = fs.existsSync(storePath(home)) ? withStore(home, (db) => new AuditLog(db).recent(o)) : [];
  if (o.json) return printJson(rows);
  // What the model or a repository wrote can reach these columns: control characters are shown, not sent to the terminal.
  printTable(
    rows.map((r) => ({
      id: r.id,
      at: r.at,
      task: r.task_id ?? '',
      layer: r.layer,
      verdict: r.verdict === 'ask' && r.queued ? 'ask (queued)' : r.verdict,
      what: visibleControls(r.what),
      why: visibleControls([r.reason, r.rule ? `[${r.rule}]` : ''].filter(Boolean).join(' ')),
      final: r.final ?? '',
    })),
    ['id', 'at', 'task', 'layer', 'verdict', 'final', 'what', 'why'],
  );
}

/** The chain check for `audit verify` and `doctor`; a home without a store has nothing to check. */
export function verifyAudit(home: string): ChainReport {
  if (!fs.existsSync(storePath(home))) return { ok: true, rows: 0, head: null };
  return withStore(home, (db) => checkAnchors(home, db, new AuditLog(db).verify()));
}

export function formatVerify(r: ChainReport): string {
  if (r.ok) {
    const anchors = r.anchors ? `; ${r.anchors} head${r.anchors === 1 ? '' : 's'} anchored in the daily log match` : '';
    return `kairos: audit chain intact: ${r.rows} row${r.rows === 1 ? '' : 's'}${r.head && r.rows ? ` (${r.head.first_id}–${r.head.last_id}, head ${r.head.hash.slice(0, 16)})` : ''}${anchors}`;
  }
  return `kairos: audit chain BROKEN: ${r.problem!.message}\n(checked ${r.rows} intact row${r.rows === 1 ? '' : 's'} before it; the chain shows edits made outside Kairos, but not who made them — keep a copy of kairos.db)`;
}
