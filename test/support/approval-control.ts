import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb, storePath, type Db } from '../../src/store/db.js';
import { ApprovalQueue, type Approval, type ApprovalTokens } from '../../src/pipeline/approvals.js';
import { approvalHandlers } from '../../daemon/approval-handlers.js';
import { startControlServer, type ControlHandler, type ControlServer } from '../../daemon/control-server.js';

/**
 * The daemon's control socket as the notification and tray channels meet it: the real control
 * server, the real approval queue on a real SQLite file, the real approval handlers, with every
 * call recorded. What an approve "applies" is recorded instead of written to a tree (command
 * approvals need no repository), so these tests see exactly which approvals a channel decided.
 */

export interface RecordedCall {
  method: string;
  params: Record<string, unknown>;
  ok: boolean;
  error?: string;
}

export interface ApprovalControl {
  home: string;
  db: Db;
  queue: ApprovalQueue;
  calls: RecordedCall[];
  applied: string[];
  discarded: string[];
  /** Queues a command approval (no repository needed) and returns it with its one-time tokens. */
  enqueue(summary: string): { approval: Approval; tokens: ApprovalTokens };
  /** Resolves once `n` calls of `method` were answered. */
  waitForCalls(method: string, n: number, timeoutMs?: number): Promise<RecordedCall[]>;
  close(): Promise<void>;
}

/** `extra`: more control methods (e.g. a `status`), or a function of the queue that returns them. */
export async function startApprovalControl(extra: Record<string, ControlHandler> | ((queue: ApprovalQueue) => Record<string, ControlHandler>) = {}): Promise<ApprovalControl> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-approval-control-'));
  fs.chmodSync(home, 0o700);
  const db = openDb(storePath(home));
  const applied: string[] = [];
  const discarded: string[] = [];
  const queue = new ApprovalQueue(db, {
    apply: async (a) => {
      applied.push(a.id);
      return { files: ['README.md'] };
    },
    discard: async (a) => {
      discarded.push(a.id);
    },
  });
  const calls: RecordedCall[] = [];
  const listeners = new Set<() => void>();
  const handlers: Record<string, ControlHandler> = { ...approvalHandlers({ queue }), ...(typeof extra === 'function' ? extra(queue) : extra) };
  const recording: Record<string, ControlHandler> = {};
  for (const [method, handler] of Object.entries(handlers)) {
    recording[method] = async (params) => {
      try {
        const r = await handler(params);
        calls.push({ method, params, ok: true });
        return r;
      } catch (e) {
        calls.push({ method, params, ok: false, error: (e as Error).message });
        throw e;
      } finally {
        for (const l of listeners) l();
      }
    };
  }
  const server: ControlServer = await startControlServer(home, recording);
  let n = 0;
  return {
    home,
    db,
    queue,
    calls,
    applied,
    discarded,
    enqueue: (summary) => queue.enqueueCommand({ command: `echo ${++n}`, summary, repo: path.join(home, 'repo') }),
    waitForCalls: (method, count, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const got = calls.filter((c) => c.method === method);
          if (got.length >= count) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(got);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`waited ${timeoutMs} ms for ${count} '${method}' calls; calls so far: ${JSON.stringify(calls.map((c) => c.method))}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
    close: async () => {
      await server.close();
      db.close();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
