import fs from 'node:fs';
import path from 'node:path';

/**
 * Programs that must never run: each records that it ran in a canary folder (outside every tree
 * under test) and, when a canary URL is given, reaches for it. A filter or textconv must also pass
 * its input through, so each ends with `cat`. Tests point planted git config at them and then check
 * that the canary folder is unchanged (tree-hash.ts) and the canary server got no hit.
 */
export interface GitTrap {
  /** The canary folder; the trap scripts live here too. */
  dir: string;
  /** An executable that records `kind` when run. */
  program(kind: string): string;
  /** What ran, in order. */
  ran(): string[];
}

export function makeGitTrap(dir: string, canaryUrl?: string): GitTrap {
  fs.mkdirSync(dir, { recursive: true });
  const log = path.join(dir, 'ran.log');
  return {
    dir,
    program(kind) {
      const p = path.join(dir, `evil-${kind}.sh`);
      const reach = canaryUrl ? `node -e "fetch(process.argv[1]).catch(() => {})" '${canaryUrl}/${kind}' >/dev/null 2>&1\n` : '';
      fs.writeFileSync(p, `#!/bin/sh\necho '${kind}' >> '${log}'\n${reach}cat\n`, { mode: 0o755 });
      return p;
    },
    ran: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
  };
}

/**
 * Plants a repository of the attacker's inside `tree`: a git dir at `tree/<gitDirRel>` whose
 * config runs `trap` programs through every door git has (filters, fsmonitor, hooks, textconv, an
 * external diff, a pager, an include), and a `.git` file or folder at `tree/<at>` that leads to it.
 * Returns the config text, for tests that want to plant it elsewhere.
 */
export function plantRepository(tree: string, trap: GitTrap, o: { at: string; gitDirRel?: string; asFolder?: boolean }): void {
  const config = evilConfig(trap);
  const dotGit = path.join(tree, o.at);
  if (o.asFolder) {
    writeGitDir(dotGit, config, trap);
    return;
  }
  const rel = o.gitDirRel ?? '.evil/gitdir';
  const gitDir = path.join(tree, rel);
  writeGitDir(gitDir, config, trap);
  fs.mkdirSync(path.dirname(dotGit), { recursive: true });
  fs.writeFileSync(dotGit, `gitdir: ${path.relative(path.dirname(dotGit), gitDir)}\n`);
}

export function evilConfig(trap: GitTrap): string {
  return [
    '[core]',
    '\trepositoryformatversion = 0',
    '\tbare = false',
    `\tfsmonitor = ${trap.program('fsmonitor')}`,
    `\thooksPath = ${trap.dir}/hooks`,
    `\tpager = ${trap.program('pager')}`,
    `\tsshCommand = ${trap.program('ssh')}`,
    '[filter "x"]',
    `\tclean = ${trap.program('filter-clean')}`,
    `\tsmudge = ${trap.program('filter-smudge')}`,
    '[diff "x"]',
    `\ttextconv = ${trap.program('textconv')}`,
    `\tcommand = ${trap.program('diff-driver')}`,
    '[diff]',
    `\texternal = ${trap.program('diff-external')}`,
    '[merge "x"]',
    `\tdriver = ${trap.program('merge-driver')}`,
    '',
  ].join('\n');
}

function writeGitDir(gitDir: string, config: string, trap: GitTrap): void {
  fs.mkdirSync(path.join(gitDir, 'objects'), { recursive: true });
  fs.mkdirSync(path.join(gitDir, 'refs', 'heads'), { recursive: true });
  fs.writeFileSync(path.join(gitDir, 'HEAD'), 'ref: refs/heads/main\n');
  fs.writeFileSync(path.join(gitDir, 'config'), config);
  const hooks = path.join(trap.dir, 'hooks');
  fs.mkdirSync(hooks, { recursive: true });
  for (const h of ['pre-commit', 'post-checkout', 'post-index-change', 'reference-transaction']) fs.copyFileSync(trap.program(`hook-${h}`), path.join(hooks, h));
}

/** A `.gitattributes` that sends every path through the planted drivers. */
export const EVIL_ATTRIBUTES = '* filter=x diff=x merge=x\n';
