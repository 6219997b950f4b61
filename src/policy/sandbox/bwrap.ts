import type { MountEntry } from './mounts.js';

/**
 * The bubblewrap command line for a mount table. bwrap starts from an empty tmpfs root, so what is
 * not mounted here does not exist for the command. Made-up files go through `--ro-bind-data FD`:
 * the runner passes their contents on extra pipes (fd 3, 4, ...), so nothing is staged on disk.
 */
export interface BwrapPlan {
  args: string[];
  /** Contents for fd 3, 4, ... in order. */
  dataFds: string[];
}

export interface BwrapOptions {
  cwd: string;
  /** Environment variables bwrap must drop before the command (the limits wrapper's own). */
  unsetEnv?: readonly string[];
}

export function bwrapArgs(entries: readonly MountEntry[], opts: BwrapOptions): BwrapPlan {
  const args: string[] = [];
  const dataFds: string[] = [];
  for (const e of entries) {
    switch (e.kind) {
      case 'ro':
        args.push(e.optional ? '--ro-bind-try' : '--ro-bind', e.source ?? e.path, e.path);
        break;
      case 'rw':
        args.push(e.optional ? '--bind-try' : '--bind', e.source ?? e.path, e.path);
        break;
      case 'tmpfs':
        args.push('--tmpfs', e.path);
        break;
      case 'dev':
        args.push('--dev', e.path);
        break;
      case 'proc':
        args.push('--proc', e.path);
        break;
      case 'symlink':
        args.push('--symlink', e.source ?? '', e.path);
        break;
      case 'file':
        args.push('--ro-bind-data', String(3 + dataFds.length), e.path);
        dataFds.push(e.content ?? '');
        break;
    }
  }
  // The skeleton bwrap made for the mounts (the root, and parents like /home/<user>/src for a bind)
  // becomes read-only: only the worktree, the private /tmp, the empty home and what the policy
  // names are writable. Without this a command could "write" into a parent of a bound path, which
  // looks like the real folder but is a private copy.
  args.push('--remount-ro', '/');
  for (const name of opts.unsetEnv ?? []) args.push('--unsetenv', name);
  args.push(
    '--unshare-all', // network, pid, ipc, uts, cgroup and user namespaces
    '--die-with-parent',
    '--new-session', // no TIOCSTI: the command cannot type into the user's terminal
    '--cap-drop', 'ALL',
    '--hostname', 'sandbox',
    '--chdir', opts.cwd,
  );
  return { args, dataFds };
}
