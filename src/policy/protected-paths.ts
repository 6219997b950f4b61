import picomatch from 'picomatch';

/**
 * Paths the agent may never write, whatever the permission rules say: the repository's own
 * machinery (git, hooks), Kairos's and Claude Code's configuration (so the agent cannot grant
 * itself more), editor task files that run on open, and shell start-up files. Matched
 * case-insensitively against repository-relative paths, so `.GIT/hooks` on a case-insensitive
 * file system is caught too.
 */
export const PROTECTED_WRITE_PATTERNS: readonly string[] = [
  '.git', '.git/**', '**/.git', '**/.git/**',
  '.kairos', '.kairos/**', '.kairosignore',
  '.claude', '.claude/**', '**/.claude/**', 'CLAUDE.local.md',
  '.husky', '.husky/**', '.githooks/**', '.pre-commit-config.yaml', 'lefthook.yml', '.lefthook.yml', 'lefthook-local.yml',
  '.vscode/**', '.idea/**',
  '.envrc',
  '**/.bashrc', '**/.bash_profile', '**/.bash_login', '**/.bash_logout', '**/.profile',
  '**/.zshrc', '**/.zshenv', '**/.zprofile', '**/.zlogin', '**/.zlogout',
  '**/.cshrc', '**/.tcshrc', '**/.kshrc', '**/.inputrc', '**/.config/fish/**',
];

// Compiled on first use (the first agent write), not when the daemon starts.
let protectedMatcher: picomatch.Matcher | undefined;
const isProtectedGlob = (p: string): boolean => (protectedMatcher ??= picomatch([...PROTECTED_WRITE_PATTERNS], { dot: true, nocase: true }))(p);

/** Why a repository-relative path may not be written, or undefined when it may. */
export function protectedReason(rel: string): string | undefined {
  const p = rel.replace(/\\/g, '/').replace(/^\.\//, '');
  if (!isProtectedGlob(p)) return undefined;
  const first = p.split('/')[0]!.toLowerCase();
  if (first === '.git' || p.toLowerCase().includes('/.git/') || p.toLowerCase().endsWith('/.git')) {
    return `'${rel}' is inside .git (history, refs and hooks are never written by the agent)`;
  }
  if (first === '.kairos' || first === '.kairosignore') return `'${rel}' is Kairos policy or hook configuration (the agent cannot change its own rules)`;
  if (first === '.claude' || p.includes('.claude/') || first === 'claude.local.md') return `'${rel}' is Claude Code configuration (the agent cannot change its own rules)`;
  if (['.husky', '.githooks', '.pre-commit-config.yaml', 'lefthook.yml', '.lefthook.yml', 'lefthook-local.yml'].includes(first)) {
    return `'${rel}' is a git hook configuration (it would run on the user's next commit)`;
  }
  if (first === '.vscode' || first === '.idea') return `'${rel}' is editor configuration that can run tasks when the folder is opened`;
  return `'${rel}' is a shell start-up file (it would run in the user's next shell)`;
}

export function isProtected(rel: string): boolean {
  return protectedReason(rel) !== undefined;
}
