import { allow, ask, combine, type Step, type Verdict } from './decision.js';
import type { LayerContext } from './layers.js';
import { decomposeCommand } from './shell.js';

/**
 * Layer 7: what needs a human whatever the rules say. Work inside the task's worktree is the
 * agent's own; anything that changes the user's tree, the branches the user shares with the
 * worktree, or anything outside the machine waits for approval. (Who answers, and when an
 * approval expires, belongs to the approvals store; this layer only says "a human must decide".)
 */
export function approvalLayer(step: Step, _ctx: LayerContext): Verdict {
  if (step.origin === 'user') return allow('the user asked for it');
  const a = step.action;
  if (a.type === 'apply') {
    const what = { 'user-tree': "changes the user's working tree", branch: 'changes a branch', remote: 'sends changes to a remote', external: 'acts outside this machine' }[a.target];
    return ask(`${a.detail}: ${what}, so a human must approve it`);
  }
  if (a.type === 'tool' && a.call.tool === 'Bash') return combine(decomposeCommand(a.call.command).parts.map((p) => approvalFor(p.argv)));
  return allow();
}

/** Git subcommands that change state shared with the user's checkout (refs, config, stash) or the network. */
const GIT_SHARED = new Set(['push', 'fetch', 'pull', 'remote', 'update-ref', 'symbolic-ref', 'worktree', 'stash', 'gc', 'prune', 'replace', 'notes', 'filter-branch', 'filter-repo', 'submodule', 'clone', 'send-email', 'request-pull', 'lfs']);
const PUBLISH = /^(?:npm|yarn|pnpm|bun) (?:publish|unpublish|deprecate|dist-tag|owner|access|token|login|adduser)\b|^cargo (?:publish|yank|owner|login)\b|^(?:twine|flit|poetry) (?:upload|publish)\b|^gem (?:push|yank)\b|^docker (?:push|login)\b/;
const REMOTE_PROGRAMS = new Set(['gh', 'glab', 'ssh', 'scp', 'sftp', 'ftp', 'rsync', 'aws', 'gcloud', 'az', 'kubectl', 'terraform', 'heroku', 'vercel', 'netlify', 'fly', 'flyctl']);

function approvalFor(argv: readonly string[]): Verdict {
  const prog = argv[0];
  if (!prog) return allow();
  const text = argv.join(' ');
  if (prog === 'git') {
    // Skip global options (`git -C dir`, `git -c k=v`) to find the subcommand.
    let i = 1;
    while (i < argv.length && argv[i]!.startsWith('-')) i += ['-C', '-c', '--git-dir', '--work-tree', '--namespace'].includes(argv[i]!) ? 2 : 1;
    const sub = argv[i];
    const rest = argv.slice(i + 1);
    if (argv.slice(1, i).some((o) => o === '-c' || o === '--git-dir' || o === '--work-tree')) {
      return ask(`'${text}' overrides git configuration or directories, so a human must approve it`);
    }
    if (sub && GIT_SHARED.has(sub)) return ask(`'git ${sub}' changes state shared with the user's repository or the network, so a human must approve it`);
    if (sub === 'config' && !rest.some((r) => ['--get', '--get-all', '--list', '-l', '--get-regexp'].includes(r))) {
      return ask(`'git config' changes the repository configuration shared with the user, so a human must approve it`);
    }
    if (sub === 'branch' && rest.some((r) => /^-(?:[dDmMcCf]|-delete|-move|-copy|-force|-set-upstream-to|u)$/.test(r))) {
      return ask(`'${text}' deletes, renames or moves a branch the user shares, so a human must approve it`);
    }
    if (sub === 'tag' && rest.length > 0 && !rest.every((r) => ['-l', '--list', '-n'].includes(r) || r.startsWith('--sort') || r.startsWith('--contains'))) {
      return ask(`'${text}' creates or deletes a tag, so a human must approve it`);
    }
    if (sub === 'reflog' && (rest[0] === 'expire' || rest[0] === 'delete')) return ask(`'${text}' rewrites the reflog, so a human must approve it`);
    return allow();
  }
  if (PUBLISH.test(text)) return ask(`'${text}' publishes outside this machine, so a human must approve it`);
  if (REMOTE_PROGRAMS.has(prog)) return ask(`'${prog}' acts on other machines, so a human must approve it`);
  return allow();
}
