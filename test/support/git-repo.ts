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
  const { root, cleanup } = copyTemplate(`upstream-${kind}`, (dir) => {
    const upDir = path.join(dir, 'upstream');
    fs.mkdirSync(upDir);
    runGit(upDir, ['init', '-q']);
    const upstream = wrapRepo(upDir, () => {}, true);
    upstream.commit('second', { 'a.txt': 'a\n' });
    runGit(dir, ['clone', '-q', upDir, 'clone']);
    if (kind === 'worktree') {
      runGit(path.join(dir, 'clone'), ['worktree', 'add', '-q', path.join(dir, 'wt'), '-b', 'wt']);
      runGit(path.join(dir, 'wt'), ['branch', '-q', '--set-upstream-to=origin/main']);
    }
    return ['upstream', 'clone', ...(kind === 'worktree' ? ['wt'] : [])];
  });
  const upstream = wrapRepo(path.join(root, 'upstream'));
  const clone = wrapRepo(path.join(root, 'clone'));
  const work = kind === 'worktree' ? wrapRepo(path.join(root, 'wt')) : clone;
  return { kind, upstream, clone, work, branch: kind === 'worktree' ? 'wt' : 'main', cleanup };
}

/**
 * A fresh copy of the repository `build` made (in a makeRepo repository) the first time this test
 * process asked for `key`: for a file whose every test starts from the same commits, copying is far
 * cheaper than the git processes that made them. Each test gets its own copy (tests stay independent);
 * only the commits' hashes repeat between copies.
 */
export function makeRepoFrom(key: string, build: (repo: TestRepo) => void): TestRepo {
  const { root, cleanup } = copyTemplate(`repo-${key}`, (dir) => {
    const repoDir = path.join(dir, 'repo');
    fs.mkdirSync(repoDir);
    runGit(repoDir, ['init', '-q']);
    build(wrapRepo(repoDir, () => {}, true));
    return ['repo'];
  });
  return wrapRepo(path.join(root, 'repo'), cleanup);
}

/** Template folders of this process, by key, with the work trees in them (relative paths). */
const templates = new Map<string, { dir: string; workTrees: string[] }>();

/**
 * Copies the template `key` (made by `build` in an empty folder the first time, returning the work
 * trees it made) to a new temporary folder. The absolute paths git wrote into its files (origin's
 * URL, a linked worktree's gitdir links, reflog messages) are rewritten to the copy's, and each
 * index is refreshed: the copied files have new inodes, so git would otherwise refresh it on the
 * test's first command, changing index bytes a test may compare.
 */
function copyTemplate(key: string, build: (dir: string) => string[]): { root: string; cleanup: () => void } {
  let template = templates.get(key);
  if (!template) {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-git-template-')));
    if (templates.size === 0) process.on('exit', () => templates.forEach((t) => fs.rmSync(t.dir, { recursive: true, force: true })));
    template = { dir, workTrees: [] };
    templates.set(key, template);
    template.workTrees = build(dir);
  }
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-git-')));
  fs.cpSync(template.dir, root, { recursive: true, preserveTimestamps: true });
  const from = template.dir;
  const rewrite = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'objects') rewrite(p); // compressed objects hold no paths
      } else if (entry.isFile()) {
        const text = fs.readFileSync(p, 'latin1');
        if (text.includes(from)) fs.writeFileSync(p, text.split(from).join(root), 'latin1');
      }
    }
  };
  rewrite(root);
  for (const wt of template.workTrees) runGit(path.join(root, wt), ['update-index', '-q', '--refresh']);
  return { root, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}
