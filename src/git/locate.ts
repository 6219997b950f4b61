import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { safeGitEnv } from './git-env.js';
import type { GitLocation } from './safe-git.js';
import { errnoCode, isAbsent, UserInputError, messageOf } from '../core/errors.js';

/**
 * Finding the git directories once, so every later command can name them.
 *
 * The user's repository is found the way git finds it (discovery from the folder the user named):
 * that folder and its `.git` are the user's own. A task's worktree is never discovered: its admin
 * folder is looked up from the repository's side (`<common>/worktrees/*` whose `gitdir` file points
 * back at the worktree), so a `.git` file the agent rewrote in the worktree is never followed.
 */

export class RepoLocateError extends UserInputError {
  override name = 'RepoLocateError';
}

export interface RepoLayout {
  /** The work tree's top folder, realpath'd. */
  top: string;
  /** Its git directory (for a linked worktree of the user's, its admin folder), absolute. */
  gitDir: string;
  /** The shared git directory (objects, refs, config, worktrees/), absolute. */
  commonDir: string;
}

/** The user's repository containing `dir` (any folder inside it). */
export async function locateRepo(dir: string): Promise<RepoLayout> {
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch (e) {
    if (isAbsent(e)) throw new RepoLocateError(`${dir}: no such folder; pass the path of the repository's work tree`, { cause: e });
    throw new RepoLocateError(`${dir}: cannot be opened (${errnoCode(e) ?? messageOf(e)}); check its permissions`, { cause: e });
  }
  const args = ['--no-pager', 'rev-parse', '--path-format=absolute', '--show-toplevel', '--absolute-git-dir', '--git-common-dir'];
  const r = await new Promise<{ ok: boolean; stdout: string; why: string }>((resolve) => {
    execFile('git', args, { cwd: real, env: safeGitEnv([]), encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ ok: !err, stdout: String(stdout ?? ''), why: String(stderr ?? '').trim() || (err?.message ?? '') }),
    );
  });
  const lines = r.stdout.split('\n');
  if (!r.ok || lines.length < 3 || !lines[0]) {
    throw new RepoLocateError(`${real}: not a git work tree (${r.why}); pass the repository's top folder`);
  }
  return { top: fs.realpathSync(lines[0]), gitDir: fs.realpathSync(lines[1]!), commonDir: fs.realpathSync(lines[2]!) };
}

/** Where git commands about the user's own tree run. */
export function userTree(layout: RepoLayout): GitLocation & { workTree: string } {
  return { gitDir: layout.gitDir, workTree: layout.top };
}

/**
 * The admin folder (`<common>/worktrees/<name>`) of the linked worktree at `dir`, found from the
 * repository's side; undefined when the repository has no worktree registered there.
 */
export function findWorktreeGitDir(commonDir: string, dir: string): string | undefined {
  const admin = path.join(commonDir, 'worktrees');
  let names: string[];
  try {
    names = fs.readdirSync(admin);
  } catch (e) {
    if (isAbsent(e)) return undefined; // no linked worktree at all yet
    throw e;
  }
  const want = realOrResolved(dir);
  for (const name of names) {
    let pointer: string;
    try {
      pointer = fs.readFileSync(path.join(admin, name, 'gitdir'), 'utf8').trim();
    } catch (e) {
      if (isAbsent(e)) continue; // an entry git is still writing or has half removed
      throw e;
    }
    // The `gitdir` file names the worktree's `.git` file.
    if (path.basename(pointer) === '.git' && realOrResolved(path.dirname(pointer)) === want) return path.join(admin, name);
  }
  return undefined;
}

/** The location of a task worktree: its own admin folder and the worktree itself. */
export function taskWorktreeLocation(layout: RepoLayout, dir: string): GitLocation & { workTree: string } {
  const gitDir = findWorktreeGitDir(layout.commonDir, dir);
  if (!gitDir) throw new RepoLocateError(`${dir} is not a worktree of ${layout.top} (no entry under ${path.join(layout.commonDir, 'worktrees')} points to it)`);
  return { gitDir, workTree: realOrResolved(dir) };
}

function realOrResolved(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch (e) {
    if (isAbsent(e)) return path.resolve(p); // not there (yet): compared by its name
    throw e;
  }
}
