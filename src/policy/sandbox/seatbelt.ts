import type { MountEntry } from './mounts.js';

/**
 * The macOS sandbox-exec profile with the same intent as the bwrap mount table (not exercised by
 * CI): default-deny, the system read-only, the toolchain and policy paths read-only, the worktree
 * and a private temporary folder writable, no network. macOS cannot mount an empty home or /tmp
 * over the real ones, so the runner makes a private folder for both and points HOME and TMPDIR at
 * it; the real home and /tmp are simply not readable.
 */

/** What macOS programs need to start at all (dyld cache, frameworks, time zones, TLS roots). */
const DARWIN_SYSTEM = ['/usr', '/bin', '/sbin', '/System', '/Library/Apple', '/private/var/db/dyld', '/private/var/db/timezone', '/private/etc/ssl', '/Library/Developer/CommandLineTools'];
const DARWIN_SYSTEM_FILES = ['/private/etc/hosts', '/private/etc/passwd', '/private/etc/group', '/private/etc/shells', '/private/etc/localtime', '/dev/null', '/dev/zero', '/dev/random', '/dev/urandom', '/dev/tty'];

export interface SeatbeltOptions {
  /** The private folder standing in for /tmp and $HOME. */
  privateDir: string;
}

export function seatbeltProfile(entries: readonly MountEntry[], opts: SeatbeltOptions): string {
  const q = (p: string): string => JSON.stringify(p);
  const readable = new Set<string>(DARWIN_SYSTEM);
  const writable = new Set<string>([opts.privateDir]);
  // A file the Linux table replaces with a made-up one (the repository's git config, which can hold
  // credentials) cannot be replaced here: it is unreadable instead, and git may refuse to run.
  const unreadable: string[] = [];
  for (const e of entries) {
    // Linux system paths and private mounts have their macOS equivalents above.
    if (e.reason === 'system' || e.reason === 'private') continue;
    if (e.kind === 'ro') readable.add(e.source ?? e.path);
    if (e.kind === 'rw') writable.add(e.source ?? e.path);
    if (e.kind === 'file') unreadable.push(e.path);
  }
  return [
    '(version 1)',
    '(deny default)',
    '(allow process-exec process-fork)',
    '(allow signal (target same-sandbox))',
    '(allow process-info* (target same-sandbox))',
    '(allow sysctl-read)',
    '(allow ipc-posix-shm ipc-posix-sem)',
    '(allow mach-lookup (global-name "com.apple.system.opendirectoryd.libinfo") (global-name "com.apple.system.logger") (global-name "com.apple.trustd.agent"))',
    // Names along a path, not contents: realpath and stat of parents need it.
    '(allow file-read-metadata)',
    `(allow file-read* ${[...readable].map((p) => `(subpath ${q(p)})`).join(' ')} ${DARWIN_SYSTEM_FILES.map((p) => `(literal ${q(p)})`).join(' ')})`,
    `(allow file-read* file-write* ${[...writable].map((p) => `(subpath ${q(p)})`).join(' ')})`,
    '(allow file-write* (literal "/dev/null") (literal "/dev/tty"))',
    ...(unreadable.length ? [`(deny file-read* ${unreadable.map((p) => `(literal ${q(p)})`).join(' ')})`] : []),
    '(deny network*)',
  ].join('\n');
}
