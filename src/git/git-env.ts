import { spawnSync } from 'node:child_process';

/**
 * The environment and command line every git command of the daemon's gets (see safe-git.ts for why).
 */

/** The variables a caller may add; anything else is a bug (and would bypass the allow-list). */
const EXTRA_ENV = new Set(['GIT_INDEX_FILE', 'GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_AUTHOR_DATE', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL', 'GIT_COMMITTER_DATE']);

/** From the daemon's environment, only what git needs to find programs and expand `~`. */
const INHERITED_ENV = ['PATH', 'HOME', 'TMPDIR', 'TZ', 'SYSTEMROOT'];

/** Settings that make git run a program, or write where it should not, forced off on the command line. */
export const HARDENED_CONFIG: ReadonlyArray<readonly [string, string]> = [
  ['core.hooksPath', '/dev/null'],
  ['core.fsmonitor', 'false'],
  ['core.sshCommand', 'false'],
  ['core.pager', 'cat'],
  ['core.editor', 'false'],
  ['sequence.editor', 'false'],
  ['core.askPass', ''],
  ['credential.helper', ''],
  ['gpg.program', 'false'],
  ['gpg.ssh.program', 'false'],
  ['gpg.x509.program', 'false'],
  ['log.showSignature', 'false'],
  ['commit.gpgSign', 'false'],
  ['tag.gpgSign', 'false'],
  ['protocol.allow', 'never'],
  ['submodule.recurse', 'false'],
  ['status.submoduleSummary', 'false'],
  ['diff.ignoreSubmodules', 'all'],
  ['gc.auto', '0'],
  ['maintenance.auto', 'false'],
  ['core.safecrlf', 'false'],
  ['core.protectNTFS', 'true'],
  ['core.protectHFS', 'true'],
  ['color.ui', 'false'],
];

/**
 * The only settings taken from the user's global git config (which is otherwise not read): where
 * they declared a repository owned by someone else safe (`safe.directory`), without which git
 * refuses to work in it at all. Read once, with includes; a change needs a daemon restart.
 */
const VETTED_GLOBAL_KEYS = ['safe.directory'];
let vetted: Array<[string, string]> | undefined;

function vettedGlobal(base: NodeJS.ProcessEnv): Array<[string, string]> {
  if (vetted) return vetted;
  const env: NodeJS.ProcessEnv = { LC_ALL: 'C', GIT_CONFIG_NOSYSTEM: '1' };
  for (const k of ['PATH', 'HOME', 'XDG_CONFIG_HOME', 'GIT_CONFIG_GLOBAL']) if (base[k] !== undefined) env[k] = base[k];
  vetted = [];
  for (const key of VETTED_GLOBAL_KEYS) {
    const r = spawnSync('git', ['config', '--global', '--includes', '--get-all', '-z', key], { cwd: '/', env, encoding: 'utf8' });
    if (r.status === 0 && typeof r.stdout === 'string') for (const v of r.stdout.split('\0').filter(Boolean)) vetted.push([key, v]);
  }
  return vetted;
}

/** The environment every git command gets: an allow-list plus the settings above (GIT_CONFIG_COUNT: keys and values never re-parsed). */
export function safeGitEnv(config: ReadonlyArray<readonly [string, string]>, extra: Record<string, string> = {}, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of INHERITED_ENV) if (base[k] !== undefined) env[k] = base[k];
  Object.assign(env, {
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_OPTIONAL_LOCKS: '0',
    GIT_NO_REPLACE_OBJECTS: '1',
    GIT_PAGER: 'cat',
    PAGER: 'cat',
    GIT_EDITOR: 'false',
    GIT_ASKPASS: 'false',
    SSH_ASKPASS: 'false',
    GIT_PROTOCOL_FROM_USER: '0',
  });
  const all = [...HARDENED_CONFIG, ...vettedGlobal(base), ...config];
  env.GIT_CONFIG_COUNT = String(all.length);
  all.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  for (const [k, v] of Object.entries(extra)) {
    if (!EXTRA_ENV.has(k)) throw new Error(`safe-git: ${k} may not be set for git (allowed: ${[...EXTRA_ENV].join(', ')})`);
    env[k] = v;
  }
  return env;
}

/**
 * Subcommands that would run a diff driver's program (`diff.<driver>.command`, `diff.external`,
 * `textconv`) unless told not to. An empty `diff.external` is not "none" to git (it tries to run
 * ""), so the switch-off is on the command line of each such subcommand instead.
 */
const NO_DRIVER_FLAGS: Record<string, readonly string[]> = {
  diff: ['--no-ext-diff', '--no-textconv'],
  log: ['--no-ext-diff', '--no-textconv'],
  show: ['--no-ext-diff', '--no-textconv'],
  blame: ['--no-textconv'],
};

/** `git --no-pager --git-dir=… [--work-tree=…] <subcommand> [driver switch-offs] <args>` */
export function safeGitArgv(loc: { gitDir: string; workTree?: string }, args: readonly string[]): string[] {
  const [sub, ...rest] = args;
  const forced = sub === undefined ? [] : (NO_DRIVER_FLAGS[sub] ?? []).filter((f) => !rest.includes(f));
  return ['--no-pager', `--git-dir=${loc.gitDir}`, ...(loc.workTree ? [`--work-tree=${loc.workTree}`] : []), ...(sub === undefined ? [] : [sub]), ...forced, ...rest];
}

