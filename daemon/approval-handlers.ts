import fs from 'node:fs';
import { ControlError, socketPath } from '../src/cli/protocol.js';
import { approvalJson, isPaused, pausedSince, setPaused, type ApprovalQueue, type HumanChannel } from '../src/pipeline/approvals.js';
import type { ControlHandler } from './control-server.js';
import type { LogSink } from '../src/report/logger.js';
import { redactText } from '../src/policy/filter.js';
import { RefusedError, messageOf } from '../src/core/errors.js';

/**
 * The approval queue's control methods.
 *
 * Who may call them: the control socket is the only way in. It is created 0600 under a 0177 umask
 * inside a 0700 $KAIROS_HOME (see enforceOwnerOnly), so only its owner (and root) can connect.
 * Node's `net` cannot read SO_PEERCRED without a native addon, so the peer's uid is not checked per
 * connection; the file modes are the guard, and enforceOwnerOnly refuses to serve from a home that
 * another user owns. A request that carries an action token (a notification or tray button) is
 * additionally bound by it: the token must be that approval's token for that action, unused and
 * unexpired. Without a token, a request is the owner's own (the CLI).
 */

export type ApprovalChange =
  | { type: 'approved' | 'denied' | 'expired' | 'failed'; approval: Record<string, unknown> }
  | { type: 'paused' | 'resumed' };

export interface ApprovalHandlerDeps {
  queue: ApprovalQueue;
  /** Told after every change (to refresh the tray, log, notify); an error it throws is logged, never the caller's. */
  onChange?: (change: ApprovalChange) => void;
  log?: Pick<LogSink, 'warn'>;
}

function str(params: Record<string, unknown>, key: string, required: true): string;
function str(params: Record<string, unknown>, key: string, required?: false): string | undefined;
function str(params: Record<string, unknown>, key: string, required = false): string | undefined {
  const v = params[key];
  if (v === undefined || v === null) {
    if (required) throw new ControlError(`parameter '${key}' is required`, 'bad_params');
    return undefined;
  }
  if (typeof v !== 'string') throw new ControlError(`parameter '${key}' must be a string`, 'bad_params');
  return v;
}

function channel(params: Record<string, unknown>): HumanChannel {
  const c = str(params, 'channel') ?? 'cli';
  if (c !== 'cli' && c !== 'notification' && c !== 'tray' && c !== 'mcp') {
    throw new ControlError(`parameter 'channel' must be cli, notification, tray or mcp, not '${c}'`, 'bad_params');
  }
  return c;
}

export function approvalHandlers(deps: ApprovalHandlerDeps): Record<string, ControlHandler> {
  const { queue } = deps;
  const changed = (c: ApprovalChange): void => {
    try {
      deps.onChange?.(c);
    } catch (e) {
      // A listener's failure must not turn a recorded decision into an error for the caller: logged instead.
      deps.log?.warn({ change: c.type, err: messageOf(e) }, 'an approval listener failed');
    }
  };
  return {
    'approvals.pending': () => queue.pending().map(approvalJson),

    'approvals.show': (p) => {
      const d = queue.show(str(p, 'id', true), { token: str(p, 'token') });
      // For viewing (tray, notification): redacted like every display; the CLI's `show --raw` has the exact bytes.
      return { ...approvalJson(d.approval), diff: d.diff ? redactText(d.diff.toString('utf8')) : null };
    },

    'approvals.approve': async (p) => {
      const id = str(p, 'id', true);
      try {
        const r = await queue.approve(id, { channel: channel(p), token: str(p, 'token'), hash: str(p, 'hash') });
        const approval = approvalJson(r.approval);
        changed({ type: 'approved', approval });
        return { ...approval, files: r.files };
      } catch (e) {
        const a = queue.get(id);
        if (a && (a.state === 'failed' || a.state === 'expired')) changed({ type: a.state, approval: approvalJson(a) });
        throw e;
      }
    },

    'approvals.deny': async (p) => {
      const r = await queue.deny(str(p, 'id', true), { channel: channel(p), token: str(p, 'token'), reason: str(p, 'reason') });
      const approval = approvalJson(r.approval);
      changed({ type: r.approval.state === 'expired' ? 'expired' : 'denied', approval });
      return { ...approval, ...(r.discardError ? { discard_error: r.discardError } : {}) };
    },

    // was_paused: so `kairos resume` when nothing was paused can say so instead of "resumed".
    pause: (p) => {
      const was = isPaused(queue.db);
      const r = was ? { paused: true, since: pausedSince(queue.db) } : setPaused(queue.db, true, new Date(), channel(p));
      changed({ type: 'paused' });
      return { ...r, was_paused: was };
    },

    resume: () => {
      const was = isPaused(queue.db);
      const r = setPaused(queue.db, false);
      changed({ type: 'resumed' });
      return { ...r, was_paused: was };
    },
  };
}

export class OwnerOnlyError extends RefusedError {
  override name = 'OwnerOnlyError';
}

/**
 * Makes $KAIROS_HOME 0700 and the control socket (when it exists) 0600, and refuses (throws) when
 * either is owned by another user: then someone else could have put it there to receive approvals.
 * Call at start, after the control server listens. Returns what it had to tighten.
 */
export function enforceOwnerOnly(home: string, uid: number | undefined = process.getuid?.()): string[] {
  const fixed: string[] = [];
  const check = (file: string, mode: number): void => {
    const st = fs.lstatSync(file);
    if (st.isSymbolicLink()) throw new OwnerOnlyError(`${file} is a symbolic link; Kairos serves approvals only from a real folder it owns — replace it`);
    if (uid !== undefined && st.uid !== uid) {
      throw new OwnerOnlyError(`${file} belongs to uid ${st.uid}, not to this user (uid ${uid}); another user could read or answer approvals — use a KAIROS_HOME you own`);
    }
    if ((st.mode & 0o777) !== mode) {
      fs.chmodSync(file, mode);
      fixed.push(`${file}: ${(st.mode & 0o777).toString(8)} → ${mode.toString(8)}`);
    }
  };
  check(home, 0o700);
  if (fs.existsSync(socketPath(home))) check(socketPath(home), 0o600);
  return fixed;
}
