import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { git, type HistoryCommit } from './commits.js';

/**
 * The scratch clone the daemon watches: a full clone of the source repository, its work tree put
 * at the parent of the first replayed commit on a branch of its own, then each commit re-lived as a
 * person would: its files written into the work tree (the file watcher sees real writes), then a
 * real `git commit` with the original message, author and dates (the git watcher sees a real
 * commit). Every replayed commit's tree is checked against the original, so a replay that drifted
 * from the history is reported, never silently scored.
 */

export const REPLAY_BRANCH = 'replay';

/** The identity and config every git call of the replay runs with: nothing from the machine's own config. */
function replayEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return { ...env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', ...extra };
}

function run(dir: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer } = {}): string {
  return execFileSync('git', args, {
    cwd: dir,
    env: replayEnv(opts.env),
    input: opts.input,
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

/**
 * Makes `dir` a repository holding the history of `source` up to `end` (the last replayed commit;
 * objects copied, nothing shared with the source, other branches not fetched — a mirror may lack
 * large blobs of branches the replay never reads) and checks out `start` (the parent of the first
 * replayed commit) on the replay branch. Hooks are switched off: a history's own hooks are not
 * part of what is being measured.
 */
export function makeScratchClone(source: string, dir: string, start: string, end: string): void {
  fs.mkdirSync(dir, { recursive: true });
  run(dir, ['init', '--quiet', '--initial-branch=scratch-empty']);
  run(dir, ['config', 'core.hooksPath', '/dev/null']);
  run(dir, ['config', 'commit.gpgsign', 'false']);
  run(dir, ['config', 'gc.auto', '0']);
  run(dir, ['fetch', '--quiet', '--no-tags', source, `+${end}:refs/source/end`]);
  run(dir, ['checkout', '--quiet', '-B', REPLAY_BRANCH, start]);
}

/** Blob contents by sha, in one `git cat-file --batch` call. */
function readBlobs(dir: string, shas: readonly string[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!shas.length) return out;
  const buf = execFileSync('git', ['cat-file', '--batch'], { cwd: dir, env: replayEnv(), input: shas.join('\n') + '\n', maxBuffer: 1024 * 1024 * 1024 });
  let at = 0;
  for (const sha of shas) {
    const nl = buf.indexOf(0x0a, at);
    const header = buf.subarray(at, nl).toString('utf8');
    const size = Number(header.split(' ')[2]);
    if (!Number.isFinite(size)) throw new Error(`git cat-file: no blob ${sha} (${header})`);
    out.set(sha, buf.subarray(nl + 1, nl + 1 + size));
    at = nl + 1 + size + 1;
  }
  return out;
}

function removePath(file: string, top: string): void {
  fs.rmSync(file, { force: true, recursive: true });
  // Git does not keep empty folders: neither does the person whose tree this is.
  for (let dir = path.dirname(file); dir.startsWith(top + path.sep); dir = path.dirname(dir)) {
    try {
      fs.rmdirSync(dir);
    } catch {
      break;
    }
  }
}

/**
 * Writes a commit's file changes into the work tree, as plain writes (folders created, files
 * removed, modes set). Submodule pointers have no file to write: they are staged in commitWrites.
 */
export function writeChanges(dir: string, commit: Pick<HistoryCommit, 'changes'>): void {
  const files = commit.changes.filter((c) => c.status !== 'D' && c.mode !== '160000');
  const blobs = readBlobs(dir, [...new Set(files.map((c) => c.blob!))]);
  // Deletions first: a path may turn from a folder into a file (or back) within one commit.
  for (const c of commit.changes) if (c.status === 'D' || c.status === 'T') removePath(path.join(dir, c.path), dir);
  for (const c of files) {
    const file = path.join(dir, c.path);
    const content = blobs.get(c.blob!)!;
    let parent = path.dirname(file);
    // A file standing where a folder must now be (it was removed by this very commit elsewhere in the list).
    while (parent !== dir && !fs.existsSync(parent)) parent = path.dirname(parent);
    if (parent !== dir && fs.statSync(parent).isFile()) removePath(parent, dir);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (c.mode === '120000') {
      removePath(file, dir);
      fs.symlinkSync(content.toString('utf8'), file);
    } else {
      const mode = c.mode === '100755' ? 0o755 : 0o644;
      let before = fs.lstatSync(file, { throwIfNoEntry: false });
      if (before?.isSymbolicLink()) {
        fs.unlinkSync(file);
        before = undefined;
      }
      fs.writeFileSync(file, content, { mode });
      // Only a real mode change is a chmod: a needless one is a second watcher event for one save
      // (seen under load), which would count a commit's file twice.
      if (before && (before.mode & 0o777) !== mode) fs.chmodSync(file, mode);
    }
  }
}

/**
 * Stages exactly the commit's paths (ignored ones too: they are tracked upstream) and commits with
 * the original message, author and dates. Returns the new commit's sha and whether its tree is the
 * original's.
 */
export function commitWrites(dir: string, commit: HistoryCommit): { sha: string; sameTree: boolean } {
  const paths = commit.changes.filter((c) => c.mode !== '160000').map((c) => c.path);
  if (paths.length) run(dir, ['--literal-pathspecs', 'add', '--all', '--force', '--pathspec-from-file=-', '--pathspec-file-nul'], { input: paths.join('\0') });
  for (const c of commit.changes.filter((x) => x.mode === '160000')) {
    run(dir, ['update-index', '--add', '--cacheinfo', `160000,${c.blob},${c.path}`]);
  }
  for (const c of commit.changes.filter((x) => x.status === 'D')) {
    // A removed submodule pointer has no file for `add` to notice.
    run(dir, ['--literal-pathspecs', 'update-index', '--force-remove', '--', c.path]);
  }
  run(dir, ['commit', '--quiet', '--allow-empty', '--no-verify', '--cleanup=verbatim', '--file=-'], {
    input: commit.message,
    env: {
      GIT_AUTHOR_NAME: commit.authorName,
      GIT_AUTHOR_EMAIL: commit.authorEmail,
      GIT_AUTHOR_DATE: commit.authorDate,
      GIT_COMMITTER_NAME: commit.authorName,
      GIT_COMMITTER_EMAIL: commit.authorEmail,
      GIT_COMMITTER_DATE: commit.committerDate,
    },
  });
  const sha = run(dir, ['rev-parse', 'HEAD']).trim();
  const tree = run(dir, ['rev-parse', 'HEAD^{tree}']).trim();
  return { sha, sameTree: tree === git(dir, ['rev-parse', `${commit.sha}^{tree}`]).trim() };
}
