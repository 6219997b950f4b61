import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { allow, deny, Step as StepSchema, type Step, type Verdict } from './decision.js';
import type { LayerContext } from './layers.js';
import { errnoCode, isAbsent, messageOf } from '../core/errors.js';

/** Linux limits: NAME_MAX and PATH_MAX, in bytes. */
export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 4096;

export type Resolved =
  | { ok: true; abs: string; rel: string }
  | { ok: false; reason: string };

/**
 * Resolves a path the way the kernel will, component by component with symlinks followed
 * (realpath), and confines it to `root`. A file that does not exist yet is resolved through its
 * nearest existing parent, so `newdir/../../x` and a symlinked parent are both caught.
 */
export function resolveInRoot(root: string, p: string, home?: string): Resolved {
  if (p.includes('\0')) return { ok: false, reason: 'the path contains a NUL byte' };
  if (Buffer.byteLength(p) > MAX_PATH_BYTES) return { ok: false, reason: `the path is longer than ${MAX_PATH_BYTES} bytes` };
  const long = p.split(/[\\/]/).find((c) => Buffer.byteLength(c) > MAX_NAME_BYTES);
  if (long !== undefined) return { ok: false, reason: `a path component is longer than ${MAX_NAME_BYTES} bytes ('${long.slice(0, 20)}…')` };
  if (p === '') return { ok: false, reason: 'the path is empty' };

  let realRoot: string;
  try {
    realRoot = fs.realpathSync(root);
  } catch (e) {
    if (isAbsent(e)) return { ok: false, reason: `the root '${root}' does not exist` };
    return { ok: false, reason: `the root '${root}' cannot be opened (${errnoCode(e) ?? messageOf(e)})` };
  }
  let input = p;
  if (home && (input === '~' || input.startsWith('~/'))) input = path.join(home, input.slice(1));
  const lexical = path.resolve(realRoot, input);

  let cur = path.isAbsolute(input) ? path.parse(lexical).root : realRoot;
  let missing = false;
  for (const comp of input.split(/[\\/]+/)) {
    if (comp === '' || comp === '.') continue;
    if (comp === '..') {
      cur = path.dirname(cur);
      continue;
    }
    const next = path.join(cur, comp);
    if (missing) {
      cur = next;
      continue;
    }
    try {
      cur = fs.realpathSync(next);
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'ELOOP') return { ok: false, reason: `'${p}' is a symlink loop` };
      // A dangling symlink still points somewhere: follow its target lexically.
      const link = readLink(next);
      cur = link !== undefined ? path.resolve(cur, link) : next;
      missing = true;
    }
  }
  const inside = (x: string): boolean => x === realRoot || x.startsWith(realRoot + path.sep);
  if (!inside(cur)) {
    if (inside(lexical)) return { ok: false, reason: `'${p}' goes through a symlink that points outside the repository (to ${cur})` };
    if (path.isAbsolute(input)) return { ok: false, reason: `'${p}' is an absolute path outside the repository` };
    return { ok: false, reason: `'${p}' leaves the repository (it resolves to ${cur})` };
  }
  return { ok: true, abs: cur, rel: path.relative(realRoot, cur).split(path.sep).join('/') || '.' };
}

function readLink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    // Not a symlink (EINVAL) or not there: the path is then taken as written, and marked missing.
    return undefined;
  }
}

/** Layer 1: the step has the right shape, and every path it names stays inside its root. */
export function validateLayer(step: Step, ctx: LayerContext): Verdict {
  const parsed = StepSchema.safeParse(step);
  if (!parsed.success) return deny(`the step is malformed: ${z.prettifyError(parsed.error).split('\n').join('; ')}`);
  const a = step.action;
  if (a.type === 'tool') {
    const call = a.call;
    if (call.tool === 'Read' || call.tool === 'Edit' || call.tool === 'Write') {
      const r = resolveInRoot(stepRoot(step), call.path, ctx.home);
      return r.ok ? allow() : deny(r.reason);
    }
    if (call.tool === 'Bash') return checkCommandText(call.command);
  }
  if (a.type === 'run') return checkCommandText(a.command);
  return allow();
}

const MAX_COMMAND_BYTES = 64 * 1024;

function checkCommandText(cmd: string): Verdict {
  if (cmd.includes('\0')) return deny('the command contains a NUL byte');
  if (cmd.trim() === '') return deny('the command is empty');
  if (Buffer.byteLength(cmd) > MAX_COMMAND_BYTES) return deny(`the command is longer than ${MAX_COMMAND_BYTES} bytes`);
  return allow();
}

/** The directory a step is confined to: its worktree when it has one, else the repository. */
export function stepRoot(step: Step): string {
  return step.root ?? step.repo;
}
