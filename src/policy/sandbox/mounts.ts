import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findExecutable } from './which.js';
import { sanitizedGitConfig, gitCommonDir } from './git-view.js';

/**
 * The sandbox's file system, default-deny: the command starts from an empty root and sees only what
 * is listed here. Each entry says why it is there, so `kairos policy explain --sandbox` prints the
 * same table the runner mounts.
 *
 *   system     /usr, /bin, /lib*, a short list of /etc files tools need; made-up passwd and group
 *   private    a fresh /dev, /proc (this sandbox's processes only), /tmp, and an empty $HOME
 *   toolchain  node's install prefix, npm's cache (read-only), the repository's node_modules
 *   task       the task's worktree (the only writable host folder), the repository's git data read-only
 *   policy     what the policy's `sandbox.read` and `sandbox.write` name
 *
 * Not there, whatever they hold: the real $HOME, /root, /home, $KAIROS_HOME, other repositories,
 * /run and /var (every socket: ssh-agent, D-Bus, docker; X11's are in the host /tmp), /sys, the
 * rest of /etc (shadow, ssh host keys, npmrc, environment, ...), other processes.
 */

export type MountKind = 'ro' | 'rw' | 'tmpfs' | 'dev' | 'proc' | 'symlink' | 'file';
export type MountReason = 'system' | 'private' | 'toolchain' | 'task' | 'policy';

export interface MountEntry {
  /** Where the command sees it. */
  path: string;
  kind: MountKind;
  /** Host path (ro, rw), link target (symlink). */
  source?: string;
  /** The content of a made-up file (kind 'file'). */
  content?: string;
  /** Mount only when the host path exists (optional toolchains, policy paths). */
  optional?: boolean;
  reason: MountReason;
  why: string;
}

export interface MountPlanInput {
  /** Writable, and the working directory. */
  worktree: string;
  /** The repository the worktree belongs to: its node_modules and git data are shown read-only. */
  repo?: string;
  /** The user's home: replaced by an empty tmpfs at the same path (HOME points there). */
  home: string;
  /** A host folder to use as /tmp; a fresh tmpfs when absent. */
  tmpDir?: string;
  read?: readonly string[];
  write?: readonly string[];
  /** The environment the daemon runs with (PATH finds node; npm_config_cache moves npm's cache). */
  env?: NodeJS.ProcessEnv;
}

/** Top-level system directories, read-only (or the symlink they are on merged-/usr systems). */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * The /etc files tools need, and nothing else: the dynamic linker's cache and config, name-service
 * switch (passwd and group are made up below), TLS roots, time zone, locale aliases, MIME and magic
 * databases, terminfo, the alternatives links and the OS release. No resolv.conf (there is no
 * network) and no gitconfig (its credential helpers and settings are the host's business).
 */
export const ETC_ALLOWED = [
  'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'ld.so.preload', 'nsswitch.conf', 'host.conf', 'hosts', 'gai.conf',
  // TLS roots only: /etc/ssl/private and /etc/pki/tls/private hold the host's keys, and a sandboxed
  // root (the daemon's uid) owns them, so the folders are never shown whole.
  'ssl/certs', 'ssl/openssl.cnf', 'ssl/cert.pem', 'pki/ca-trust', 'pki/tls/certs', 'pki/tls/openssl.cnf', 'pki/tls/cert.pem',
  'ca-certificates', 'ca-certificates.conf', 'crypto-policies', 'localtime', 'timezone', 'locale.alias', 'locale.conf',
  'mime.types', 'magic', 'magic.mime', 'terminfo', 'inputrc', 'alternatives', 'os-release', 'lsb-release', 'debian_version',
  'protocols', 'services', 'shells', 'manpath.config',
];

/** The home shown to commands, at the real home's path so paths like ~/.npm keep working. */
export function sandboxHome(home: string): string {
  const h = path.resolve(home || '/');
  const top = h.split('/')[1] ?? '';
  // A home of "/" or inside a directory the table mounts would cover the system with a tmpfs. A
  // service user's /var/lib/<name> is fine: /var is not shown at all.
  if (h === '/' || ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'etc', 'dev', 'proc', 'sys'].includes(top)) return '/home/sandbox';
  return h;
}

function lstat(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    // Not there (or not visible to this user): nothing to mount from it; the table shows what is mounted.
    return undefined;
  }
}

function isDirEmptyOrMissing(p: string): boolean {
  const st = lstat(p);
  if (!st) return true;
  if (!st.isDirectory()) return false;
  try {
    return fs.readdirSync(p).length === 0;
  } catch {
    // Cannot be listed: not known to be empty, so it is treated as holding something (the safe answer).
    return false;
  }
}

/** Is `p` inside a path some earlier entry already shows (so binding it again adds nothing)? */
function coveredBy(p: string, entries: readonly MountEntry[]): boolean {
  return entries.some((e) => (e.kind === 'ro' || e.kind === 'rw') && (p === e.path || p.startsWith(e.path.endsWith('/') ? e.path : e.path + '/')));
}

/** Install prefixes of node: the daemon's own, and the one PATH would run. */
function nodePrefixes(env: NodeJS.ProcessEnv): string[] {
  const out = new Set<string>();
  const add = (exe: string | undefined): void => {
    if (!exe) return;
    try {
      out.add(path.dirname(path.dirname(fs.realpathSync(exe))));
    } catch {
      // not there: nothing to show
    }
  };
  add(process.execPath);
  add(findExecutable('node', env.PATH ?? ''));
  return [...out];
}

function expandHome(p: string, home: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(home, p.slice(1)) : p;
}

function userLines(home: string): { passwd: string; group: string } {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  let name = 'user';
  try {
    name = os.userInfo().username || name;
  } catch {
    // no passwd entry for this uid: keep the made-up name
  }
  const passwd = [`${name}:x:${uid}:${gid}:${name}:${home}:/bin/sh`];
  const group = [`${uid === 0 ? 'root' : name}:x:${gid}:`];
  if (uid !== 0) passwd.push('root:x:0:0:root:/root:/usr/sbin/nologin');
  if (gid !== 0) group.push('root:x:0:');
  passwd.push('nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin');
  group.push('nogroup:x:65534:');
  return { passwd: passwd.join('\n') + '\n', group: group.join('\n') + '\n' };
}

/** The mount table for one command, in mount order (later entries are mounted over earlier ones). */
export function planMounts(input: MountPlanInput): MountEntry[] {
  const env = input.env ?? process.env;
  const home = sandboxHome(input.home);
  const out: MountEntry[] = [];
  for (const dir of SYSTEM_DIRS) {
    const st = lstat(dir);
    if (!st) continue;
    if (st.isSymbolicLink()) out.push({ path: dir, kind: 'symlink', source: fs.readlinkSync(dir), reason: 'system', why: 'system (a link, as on the host)' });
    else if (st.isDirectory()) out.push({ path: dir, kind: 'ro', source: dir, reason: 'system', why: 'system programs and libraries' });
  }
  for (const name of ETC_ALLOWED) {
    const p = `/etc/${name}`;
    if (lstat(p)) out.push({ path: p, kind: 'ro', source: p, optional: true, reason: 'system', why: 'system configuration tools read' });
  }
  const users = userLines(home);
  out.push({ path: '/etc/passwd', kind: 'file', content: users.passwd, reason: 'system', why: 'made up: this user, root and nobody only, home = the empty home' });
  out.push({ path: '/etc/group', kind: 'file', content: users.group, reason: 'system', why: 'made up: this user\'s group, root and nogroup only' });

  out.push({ path: '/dev', kind: 'dev', reason: 'private', why: 'minimal devices: null, zero, full, random, urandom, tty, pts, shm' });
  out.push({ path: '/proc', kind: 'proc', reason: 'private', why: "this sandbox's own processes only (own pid namespace)" });
  if (input.tmpDir) out.push({ path: '/tmp', kind: 'rw', source: input.tmpDir, reason: 'private', why: 'private /tmp (a host folder kept for inspection)' });
  else out.push({ path: '/tmp', kind: 'tmpfs', reason: 'private', why: "private /tmp: the host's /tmp (and its X11 and agent sockets) is not there" });
  out.push({ path: home, kind: 'tmpfs', reason: 'private', why: '$HOME: empty; the real home (credentials, other projects) is not there' });

  for (const prefix of nodePrefixes(env)) {
    if (!coveredBy(prefix, out)) out.push({ path: prefix, kind: 'ro', source: prefix, reason: 'toolchain', why: "node's install prefix" });
    // npm's global config (<prefix>/etc/npmrc) can hold registry tokens: shown empty.
    const npmrc = path.join(prefix, 'etc', 'npmrc');
    if (lstat(npmrc)?.isFile()) out.push({ path: npmrc, kind: 'file', content: '', reason: 'toolchain', why: "npm's global config, shown empty (it can hold registry tokens)" });
  }
  const npmCache = path.join(env.npm_config_cache ?? path.join(input.home, '.npm'), '_cacache');
  if (lstat(npmCache)) {
    const at = npmCache.startsWith(path.resolve(input.home) + '/') ? path.join(home, path.relative(input.home, npmCache)) : npmCache;
    out.push({ path: at, kind: 'ro', source: npmCache, reason: 'toolchain', why: "npm's cache, read-only (offline installs)" });
  }

  for (const p of input.read ?? []) {
    const abs = expandHome(p, input.home);
    out.push({ path: abs, kind: 'ro', source: abs, optional: true, reason: 'policy', why: `policy sandbox.read: ${p}` });
  }
  for (const p of input.write ?? []) {
    const abs = expandHome(p, input.home);
    out.push({ path: abs, kind: 'rw', source: abs, optional: true, reason: 'policy', why: `policy sandbox.write: ${p}` });
  }

  out.push({ path: input.worktree, kind: 'rw', source: input.worktree, reason: 'task', why: "the task's worktree: the only writable host folder" });
  if (input.repo && path.resolve(input.repo) !== path.resolve(input.worktree)) {
    const common = gitCommonDir(input.repo);
    if (common) {
      out.push({ path: common, kind: 'ro', source: common, reason: 'task', why: "the repository's git data, read-only (git status, log and diff work)" });
      const cfg = sanitizedGitConfig(common);
      out.push({ path: path.join(common, 'config'), kind: 'file', content: cfg, reason: 'task', why: 'its config reduced to the format settings: no remotes, credentials, hooks, filters or includes' });
    }
    const modules = path.join(input.repo, 'node_modules');
    const dest = path.join(input.worktree, 'node_modules');
    if (lstat(modules)?.isDirectory() && isDirEmptyOrMissing(dest)) {
      out.push({ path: dest, kind: 'ro', source: modules, reason: 'toolchain', why: "the repository's own node_modules, read-only" });
    }
  }
  return out;
}

/** Top-level host directories the table does not show, for the explanation. */
export function hiddenTopLevel(entries: readonly MountEntry[]): string[] {
  let names: string[];
  try {
    names = fs.readdirSync('/');
  } catch {
    // Only the explanation's list of hidden folders is shortened; the mounts themselves do not depend on it.
    return [];
  }
  return names
    .map((n) => `/${n}`)
    .filter((p) => !entries.some((e) => e.path === p || e.path.startsWith(p + '/')))
    .sort();
}
