import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The environment every test git command runs in: a fixed identity, no global or system config
 * (a developer's aliases, hooks or `pull.rebase` must not change what a test sees), no editor or
 * prompt that could hang, and none of the caller's GIT_DIR-style variables.
 */
export function gitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return {
    ...env,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Kairos Test',
    GIT_AUTHOR_EMAIL: 'test@kairos.invalid',
    GIT_COMMITTER_NAME: 'Kairos Test',
    GIT_COMMITTER_EMAIL: 'test@kairos.invalid',
    GIT_EDITOR: 'true',
    GIT_SEQUENCE_EDITOR: 'true',
    GIT_MERGE_AUTOEDIT: 'no',
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
    ...extra,
  };
}

/** Runs git in `cwd`; returns stdout, throws with git's stderr when it fails. */
export function runGit(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    return execFileSync('git', ['-c', 'init.defaultBranch=main', ...args], {
      cwd,
      env: gitEnv(env),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; status?: number };
    throw new Error(
      `git ${args.join(' ')} failed in ${cwd} (exit ${e.status ?? '?'}):\n${e.stderr ?? ''}${e.stdout ?? ''}`,
    );
  }
}

export interface TestRepo {
  /** The work tree, realpath'd (macOS /tmp is a symlink). */
  dir: string;
  git(...args: string[]): string;
  /** Writes a file relative to the work tree, creating folders. */
  write(rel: string, content: string): void;
  /** Writes the files, stages everything and commits; returns the new HEAD sha. */
  commit(message: string, files?: Record<string, string>): string;
  /** The sha a revision resolves to. */
  rev(rev?: string): string;
  cleanup: () => void;
}

export interface MakeRepoOptions {
  /** Make an initial commit (file README.md) so HEAD is born. Default true. */
  initialCommit?: boolean;
  /** Prefix of the temp folder name. */
  prefix?: string;
}

/** A real git repository in a fresh temp folder, on branch `main`. */
export function makeRepo(opts: MakeRepoOptions = {}): TestRepo {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), opts.prefix ?? 'kairos-git-')));
  const dir = path.join(root, 'repo');
  fs.mkdirSync(dir);
  runGit(dir, ['init', '-q']);
  return wrapRepo(dir, () => fs.rmSync(root, { recursive: true, force: true }), opts.initialCommit ?? true);
}

/** Wraps an existing work tree (e.g. a clone or a linked worktree) with the same helpers. */
export function wrapRepo(dir: string, cleanup: () => void = () => {}, initialCommit = false): TestRepo {
  const git = (...args: string[]): string => runGit(dir, args);
  const write = (rel: string, content: string): void => {
    const abs = path.join(dir, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, content);
  };
  const rev = (r = 'HEAD'): string => git('rev-parse', r).trim();
  const commit = (message: string, files: Record<string, string> = {}): string => {
    for (const [rel, content] of Object.entries(files)) write(rel, content);
    git('add', '-A');
    git('commit', '-q', '--allow-empty', '-m', message);
    return rev();
  };
  if (initialCommit) commit('initial', { 'README.md': '# test\n' });
  return { dir, git, write, commit, rev, cleanup };
}

/**
 * A work tree with an upstream to pull from: `upstream` is a plain repo, `work` is either a clone
 * of it ('plain', on `main`) or a linked worktree of that clone ('worktree', on branch `wt`
 * tracking origin/main), so the same test can run against both layouts.
 */
export interface UpstreamFixture {
  kind: 'plain' | 'worktree';
  upstream: TestRepo;
  /** The clone; for 'plain' the same as `work`. */
  clone: TestRepo;
  work: TestRepo;
  /** The branch `work` has checked out. */
  branch: string;
  cleanup: () => void;
}

export function makeRepoWithUpstream(kind: 'plain' | 'worktree'): UpstreamFixture {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `kairos-git-${kind}-`)));
  copyRepoTree(upstreamTemplate(kind), root);
  const upstream = wrapRepo(path.join(root, 'upstream'));
  const clone = wrapRepo(path.join(root, 'clone'));
  const work = kind === 'worktree' ? wrapRepo(path.join(root, 'wt')) : clone;
  // The copies' files have new inodes, so each index is stale until refreshed: refreshed here, as
  // git left them in the template, not by whichever command of the test runs git first.
  for (const repo of new Set([upstream, clone, work])) repo.git('update-index', '-q', '--refresh');
  const branch = kind === 'worktree' ? 'wt' : 'main';
  return { kind, upstream, clone, work, branch, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

/**
 * One fixture of each layout is built with git once per test process and copied for every test:
 * the dozen git processes a fixture takes were most of what the git event tests cost. Every test
 * still gets its own folders (tests stay independent); only the commits' hashes repeat.
 */
const upstreamTemplates = new Map<'plain' | 'worktree', string>();
function upstreamTemplate(kind: 'plain' | 'worktree'): string {
  const known = upstreamTemplates.get(kind);
  if (known) return known;
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `kairos-git-template-${kind}-`)));
  if (upstreamTemplates.size === 0) process.on('exit', () => upstreamTemplates.forEach((t) => fs.rmSync(t, { recursive: true, force: true })));
  upstreamTemplates.set(kind, root);
  const upDir = path.join(root, 'upstream');
  fs.mkdirSync(upDir);
  runGit(upDir, ['init', '-q']);
  const upstream = wrapRepo(upDir, () => {}, true);
  upstream.commit('second', { 'a.txt': 'a\n' });
  runGit(root, ['clone', '-q', upDir, 'clone']);
  if (kind === 'worktree') {
    runGit(path.join(root, 'clone'), ['worktree', 'add', '-q', path.join(root, 'wt'), '-b', 'wt']);
    runGit(path.join(root, 'wt'), ['branch', '-q', '--set-upstream-to=origin/main']);
  }
  return root;
}

/**
 * Copies the folder `from` (repositories made by the tests) to `to`, rewriting the absolute paths git
 * wrote into its files (origin's URL, a linked worktree's gitdir links, reflog messages) to the copy's.
 * Object files are compressed and hold no paths; they are copied as they are.
 */
function copyRepoTree(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true, preserveTimestamps: true });
  const rewrite = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'objects') rewrite(p);
      } else if (entry.isFile()) {
        const text = fs.readFileSync(p, 'latin1');
        if (text.includes(from)) fs.writeFileSync(p, text.split(from).join(to), 'latin1');
      }
    }
  };
  rewrite(to);
}
