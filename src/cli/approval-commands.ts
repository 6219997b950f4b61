import fs from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { openDb, storePath, type Db } from '../store/db.js';
import { formatUsd } from '../model/prices.js';
import { ApprovalError, ApprovalQueue, approvalJson, isPaused, pausedSince, proposalActions, setPaused, type Approval } from '../pipeline/approvals.js';
import { askDaemon, DaemonNotRunningError } from './control-client.js';
import { ControlError } from './protocol.js';
import { withStore, withStoreAsync } from './listings.js';
import { printJson, printTable } from './output.js';
import { renderDiff, useColour, visibleControls } from './diff-view.js';
import { logDecision, undoCommand } from '../report/decision-text.js';
import { redactText } from '../policy/filter.js';

/**
 * `kairos pending | show | approve | deny | pause | resume`.
 * Listing and showing read the store directly, so they work with the daemon down. Deciding and
 * pausing go through the daemon when it runs (its watcher must know the applied writes are its own,
 * and it tells the tray); with no daemon running they act on the store directly, which is safe
 * because the same conditional UPDATEs decide who wins.
 */

export interface ApprovalCommandDeps {
  home(): string;
}

const DECIDE_TIMEOUT_MS = 120_000;

export function registerApprovalCommands(program: Command, deps: ApprovalCommandDeps): void {
  program
    .command('pending')
    .description('list approvals waiting for you: proposals (diffs) and commands, with their hash and expiry')
    .option('--json', 'print a JSON array of {id, kind, hash, summary, expires_at, trigger, repo, files, cost_usd, ...}')
    .action((o: { json?: boolean }) => pendingCommand(deps.home(), !!o.json));

  program
    .command('show <id>')
    .description('show a pending approval: summary, files, the exact diff (coloured on a terminal), its hash, and how to approve it')
    .option('--raw', 'print only the exact diff bytes (sha256sum of them is the hash)')
    .option('--json', 'print JSON, with the diff as text')
    .action((id: string, o: { raw?: boolean; json?: boolean }) => showCommand(deps.home(), id, { raw: !!o.raw, json: !!o.json }));

  program
    .command('approve <id>')
    .description('approve: applies exactly the diff you were shown to your working tree (an approval is used once)')
    .option('--hash <sha256>', 'the hash you reviewed (from `kairos show`); a different diff is refused')
    .option('--json', 'print the decided approval as JSON')
    .action(async (id: string, o: { hash?: string; json?: boolean }) => approveCommand(deps.home(), id, o.hash, !!o.json));

  program
    .command('deny <id>')
    .description('deny: the proposal is discarded and nothing changes in your tree')
    .option('--reason <text>', 'why (kept with the decision)')
    .option('--json', 'print the decided approval as JSON')
    .action(async (id: string, o: { reason?: string; json?: boolean }) => denyCommand(deps.home(), id, o.reason, !!o.json));

  program
    .command('pause')
    .description('pause all ambient work (triggers, agent tasks) until `kairos resume`; survives restarts')
    .action(async () => pauseCommand(deps.home(), true));

  program
    .command('resume')
    .description('resume ambient work after `kairos pause`')
    .action(async () => pauseCommand(deps.home(), false));
}

/**
 * A queue for reading and for deciding without the daemon (applies through the same applyProposal);
 * its decisions go to the daily log as the daemon's do.
 */
export function directQueue(db: Db, home: string): ApprovalQueue {
  return new ApprovalQueue(db, { ...proposalActions({ db, home }), onDecided: (r) => logDecision(home, r) });
}

function storeExists(home: string): boolean {
  return fs.existsSync(storePath(home));
}

/** The daemon when it runs, else the store directly; a refusal becomes a ControlError whose message the CLI prints. */
async function viaDaemonOrDirect<T>(home: string, method: string, params: Record<string, unknown>, answer: z.ZodType<T>, direct: (q: ApprovalQueue) => Promise<T>): Promise<T> {
  try {
    return await askDaemon(home, method, params, answer, DECIDE_TIMEOUT_MS);
  } catch (e) {
    if (!(e instanceof DaemonNotRunningError)) throw e;
  }
  try {
    return await withStoreAsync(home, (db) => direct(directQueue(db, home)));
  } catch (e) {
    if (e instanceof ApprovalError) throw new ControlError(e.message, e.code, { cause: e });
    throw e;
  }
}

function pendingCommand(home: string, json: boolean): void {
  const rows = storeExists(home) ? withStore(home, (db) => directQueue(db, home).pending()) : [];
  if (json) return printJson(rows.map(approvalJson));
  printTable(
    rows.map((a) => ({
      id: a.id,
      kind: a.kind,
      summary: visibleControls(a.kind === 'command' ? `${a.command}: ${a.summary}` : a.summary),
      files: a.files.length,
      cost: formatUsd(a.costMicros),
      expires: a.expiresAt,
      trigger: a.trigger ?? '',
      repo: a.repo,
    })),
    ['id', 'kind', 'summary', 'files', 'cost', 'expires', 'trigger', 'repo'],
  );
  if (rows.length) process.stdout.write(`\n'kairos show ID' shows the diff; 'kairos approve ID' applies it; 'kairos deny ID' discards it\n`);
}

function showCommand(home: string, id: string, o: { raw: boolean; json: boolean }): void {
  if (!storeExists(home)) throw new ControlError(`no approval '${id}': there is no Kairos store in ${home} yet`, 'not_found');
  let details;
  try {
    details = withStore(home, (db) => directQueue(db, home).show(id));
  } catch (e) {
    if (e instanceof ApprovalError) throw new ControlError(e.message, e.code, { cause: e });
    throw e;
  }
  const { approval: a, diff } = details;
  if (o.raw) {
    if (diff) process.stdout.write(diff);
    return;
  }
  if (o.json) return printJson({ ...approvalJson(a), diff: diff ? diff.toString('utf8') : null });
  const colour = useColour(process.stdout);
  // Everything shown is redacted; `--raw` is the one exception: the exact bytes, whose sha256 is the hash.
  const v = (s: string): string => visibleControls(redactText(s));
  const lines = [
    `approval ${a.id}  (${a.kind}${a.proposalId && a.proposalId !== a.id ? ` ${a.proposalId}` : ''}${a.taskId ? `, task ${a.taskId}` : ''}${a.trigger ? `, trigger ${v(a.trigger)}` : ''})`,
    `state    ${stateLine(a)}`,
    `repo     ${visibleControls(a.repo)}`,
    `summary  ${v(a.summary)}`,
    ...(a.command ? [`command  ${v(a.command)}`] : []),
    `files    ${a.files.length ? a.files.map(v).join('\n         ') : '(none)'}`,
    `cost     ${formatUsd(a.costMicros)}`,
    ...(a.hash ? [`hash     ${a.hash}`] : []),
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (diff) {
    const exact = diff.toString('utf8');
    const shown = redactText(exact);
    process.stdout.write(renderDiff(shown, { colour }) + (diff.length && diff[diff.length - 1] !== 0x0a ? '\n' : '') + '\n');
    if (shown !== exact) {
      process.stdout.write(`note: secrets already in your files (context or removed lines) are shown as [REDACTED:…]; the approval still binds the exact diff, which 'kairos show ${a.id} --raw' prints\n`);
    }
  }
  if (a.state === 'pending') {
    process.stdout.write(`approve: kairos approve ${a.id}${a.hash ? ` --hash ${a.hash}` : ''}\ndeny:    kairos deny ${a.id} [--reason TEXT]\n`);
  } else if (a.state === 'approved' && a.proposalId) {
    process.stdout.write(`undo:    ${undoCommand(a.id)}\n`);
  }
}

function stateLine(a: Approval): string {
  switch (a.state) {
    case 'pending':
      return `pending, expires ${a.expiresAt}`;
    case 'expired':
      return `expired at ${a.expiresAt}`;
    default:
      return `${a.state} at ${a.decidedAt ?? '?'} via ${a.decidedBy ?? '?'}${a.reason ? ` (${visibleControls(a.reason)})` : ''}`;
  }
}

/** An approval as approve and deny answer it (approvalJson plus what the decision did); other keys pass through to --json. */
const DecidedJson = z.looseObject({
  id: z.string(),
  state: z.string(),
  repo: z.string(),
  proposal_id: z.string().nullable(),
  files: z.array(z.string()).optional(),
  expires_at: z.string(),
  discard_error: z.string().optional(),
});

/** What `pause` and `resume` answer. */
const PauseAnswer = z.looseObject({ paused: z.boolean(), since: z.string().nullable(), was_paused: z.boolean().optional() });

async function approveCommand(home: string, id: string, hash: string | undefined, json: boolean): Promise<void> {
  const r = await viaDaemonOrDirect(home, 'approvals.approve', { id, channel: 'cli', ...(hash !== undefined ? { hash } : {}) }, DecidedJson, async (q) => {
    const res = await q.approve(id, { channel: 'cli', hash });
    return DecidedJson.parse({ ...approvalJson(res.approval), files: res.files });
  });
  if (json) return printJson(r);
  const files = r.files ?? [];
  process.stdout.write(
    `kairos: approved ${r.id}; applied to ${r.repo}:\n${files.map((f) => `  ${visibleControls(f)}`).join('\n')}\n` +
      (r.proposal_id ? `undo:  ${undoCommand(r.id)}\n` : ''),
  );
}

async function denyCommand(home: string, id: string, reason: string | undefined, json: boolean): Promise<void> {
  const r = await viaDaemonOrDirect(home, 'approvals.deny', { id, channel: 'cli', ...(reason !== undefined ? { reason } : {}) }, DecidedJson, async (q) => {
    const res = await q.deny(id, { channel: 'cli', reason });
    return DecidedJson.parse({ ...approvalJson(res.approval), ...(res.discardError ? { discard_error: res.discardError } : {}) });
  });
  if (json) return printJson(r);
  if (r.state === 'expired') process.stdout.write(`kairos: ${r.id} had already expired at ${r.expires_at}; it is discarded, nothing was applied\n`);
  else process.stdout.write(`kairos: denied ${r.id}; nothing was applied${r.proposal_id ? ` and the proposal${r.proposal_id !== r.id ? ` ${r.proposal_id}` : ''} is discarded` : ''}\n`);
  if (r.discard_error) process.stderr.write(`kairos: warning: cleaning up after the denial failed: ${r.discard_error}\n`);
}

async function pauseCommand(home: string, paused: boolean): Promise<void> {
  let r: z.infer<typeof PauseAnswer>;
  try {
    r = await askDaemon(home, paused ? 'pause' : 'resume', {}, PauseAnswer);
  } catch (e) {
    if (!(e instanceof DaemonNotRunningError)) throw e;
    // The flag lives in the store, so the daemon honours it from its next start.
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    const db = openDb(storePath(home));
    try {
      const was = isPaused(db);
      r = { ...(was && paused ? { paused: true, since: pausedSince(db) } : setPaused(db, paused)), was_paused: was };
    } finally {
      db.close();
    }
  }
  // Both are idempotent (exit 0), but the message says what actually happened.
  if (r.paused) process.stdout.write(`kairos: ${r.was_paused ? 'already ' : ''}paused since ${r.since}; no ambient work starts until 'kairos resume'\n`);
  else process.stdout.write(r.was_paused === false ? 'kairos: not paused; nothing to resume\n' : 'kairos: resumed\n');
}
