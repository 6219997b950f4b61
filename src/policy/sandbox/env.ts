/**
 * The environment of a sandboxed command is an allow-list: a variable reaches the command only
 * when it is named here or in the policy's `sandbox.env`. A deny-list of secret-looking names
 * always misses one (a CI's `DEPLOY_KEY_B64`, a tool's `FOO_URL` with a password in it), so no
 * pattern decides what is secret: the user names what a command needs.
 */
export const BASE_ENV_ALLOW: readonly string[] = ['PATH', 'LANG', 'LANGUAGE', 'LC_*', 'TERM', 'TZ', 'CI', 'NODE_ENV', 'USER', 'LOGNAME', 'NO_COLOR', 'FORCE_COLOR'];

/** Set for every command whatever the host had: the fake home, the private /tmp, and git kept from rewriting the read-only index. */
export function fixedEnv(home: string): Record<string, string> {
  return { HOME: home, TMPDIR: '/tmp', GIT_OPTIONAL_LOCKS: '0', GIT_TERMINAL_PROMPT: '0' };
}

/** Does `name` match an allow-list entry ("PATH", or a prefix "LC_*")? */
export function envAllowed(name: string, allow: readonly string[]): boolean {
  return allow.some((a) => (a.endsWith('*') ? name.startsWith(a.slice(0, -1)) : name === a));
}

/** The command's environment: the allow-listed variables of `env`, then the fixed ones. */
export function sandboxEnv(env: NodeJS.ProcessEnv, opts: { home: string; allow?: readonly string[] }): Record<string, string> {
  const allow = [...BASE_ENV_ALLOW, ...(opts.allow ?? [])];
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && envAllowed(k, allow)) out[k] = v;
  return { ...out, ...fixedEnv(opts.home) };
}
