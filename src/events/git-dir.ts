import fs from 'node:fs';
import path from 'node:path';
import { errnoCode, isAbsent, KairosError, messageOf } from '../core/errors.js';

/**
 * Where a repository's git state lives. For a plain repository gitDir and commonDir are the same
 * `.git` folder. For a linked worktree (`git worktree add`) gitDir is `<common>/worktrees/<name>`
 * and holds the per-worktree files (HEAD, index, logs/HEAD, ORIG_HEAD, FETCH_HEAD, the rebase and
 * merge markers), while refs, packed-refs and the stash live in commonDir. A submodule's `.git` is a
 * file pointing at `<super>/.git/modules/<name>`, with no commondir.
 */
export interface GitDirs {
  workTree: string;
  gitDir: string;
  commonDir: string;
}

export class GitDirError extends KairosError {
  override name = 'GitDirError';
}

/** Resolves the git folders of the work tree at `repoDir` by reading `.git` (folder or `gitdir:` file) and `commondir`. */
export function resolveGitDirs(repoDir: string): GitDirs {
  let workTree: string;
  try {
    workTree = fs.realpathSync(repoDir);
  } catch (e) {
    if (!isAbsent(e)) throw cannotOpen(repoDir, e);
    throw new GitDirError(`${repoDir}: no such folder; pass the path of an existing git work tree`, { cause: e });
  }
  const dotGit = path.join(workTree, '.git');
  let st: fs.Stats;
  try {
    st = fs.statSync(dotGit);
  } catch (e) {
    if (!isAbsent(e)) throw cannotOpen(dotGit, e);
    throw new GitDirError(
      `${workTree}: not a git repository (no .git here); run \`git init\` there or pass the repository's top folder`,
    );
  }
  let gitDir: string;
  if (st.isDirectory()) {
    gitDir = dotGit;
  } else {
    const text = fs.readFileSync(dotGit, 'utf8');
    const m = /^gitdir:\s*(.+?)\s*$/m.exec(text);
    if (!m?.[1]) {
      throw new GitDirError(
        `${dotGit}: a .git file must contain a line "gitdir: <path>"; found ${JSON.stringify(text.slice(0, 80))}. ` +
          'Repair it with `git worktree repair` (worktrees) or `git submodule absorbgitdirs` (submodules)',
      );
    }
    gitDir = path.resolve(workTree, m[1]);
  }
  gitDir = realDir(gitDir, `${dotGit} points at ${gitDir}, which does not exist; run \`git worktree repair\` or \`git worktree prune\``);
  if (!fs.existsSync(path.join(gitDir, 'HEAD'))) {
    throw new GitDirError(`${gitDir}: not a git folder (no HEAD file); the repository is damaged or only half created`);
  }
  let commonDir = gitDir;
  const commonFile = path.join(gitDir, 'commondir');
  if (fs.existsSync(commonFile)) {
    const rel = fs.readFileSync(commonFile, 'utf8').trim();
    commonDir = realDir(
      path.resolve(gitDir, rel),
      `${commonFile} points at ${path.resolve(gitDir, rel)}, which does not exist; the main repository was moved or deleted (run \`git worktree repair\` from it)`,
    );
  }
  if (fs.existsSync(path.join(commonDir, 'reftable'))) {
    throw new GitDirError(
      `${commonDir}: uses the reftable ref format, which Kairos cannot read yet; convert it with \`git refs migrate --ref-format=files\``,
    );
  }
  return { workTree, gitDir, commonDir };
}

function realDir(p: string, message: string): string {
  try {
    const real = fs.realpathSync(p);
    if (fs.statSync(real).isDirectory()) return real;
  } catch (e) {
    // Not there: the error below says what points at it. There but unreadable: say that instead.
    if (!isAbsent(e)) throw cannotOpen(p, e);
  }
  throw new GitDirError(message);
}

/** There, but not readable (EACCES, ELOOP, ...): not the same as "no such folder", and not fixed the same way. */
function cannotOpen(p: string, e: unknown): GitDirError {
  return new GitDirError(`${p}: cannot be opened (${errnoCode(e) ?? messageOf(e)}); check its permissions`, { cause: e });
}
