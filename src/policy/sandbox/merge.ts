import { parseDuration } from '../duration.js';
import type { SandboxSettings } from '../schema.js';
import { parseMemorySize } from './size.js';
import { SANDBOX_LIMIT_DEFAULTS } from './limits-config.js';
import { definedOnly } from '../../core/record.js';

/**
 * The `sandbox:` key through the policy layers (see src/policy/merge.ts). The user's file adds to
 * the shipped default's paths and variables and sets the limits. A repository's file may lower
 * the limits always, but may show sandboxed commands more (paths, variables) only when trusted:
 * more to read is less contained, whoever asks for it.
 */

const UNTRUSTED =
  "the repository is not trusted: its policy cannot show sandboxed commands more paths or variables until you review .kairos/policy.yaml and run 'kairos trust <repo>'";

const LOWER_ONLY = "a repository may only lower the sandbox's limits; raise them in $KAIROS_HOME/policy.yaml";

export function mergeUserSandbox(shipped: SandboxSettings | undefined, user: SandboxSettings | undefined): SandboxSettings | undefined {
  if (!shipped && !user) return undefined;
  return compact({
    read: union(shipped?.read, user?.read),
    write: union(shipped?.write, user?.write),
    env: union(shipped?.env, user?.env),
    limits: shipped?.limits || user?.limits ? { ...shipped?.limits, ...definedOnly(user?.limits ?? {}) } : undefined,
  });
}

export function mergeRepoSandbox(
  user: SandboxSettings | undefined,
  repo: SandboxSettings | undefined,
  trusted: boolean,
  refuse: (what: string, why: string) => void,
): SandboxSettings | undefined {
  if (!repo) return user ? structuredClone(user) : undefined;
  const out: SandboxSettings = structuredClone(user ?? {});
  for (const key of ['read', 'write', 'env'] as const) {
    const more = (repo[key] ?? []).filter((x) => !(user?.[key] ?? []).includes(x));
    if (!more.length) continue;
    if (trusted) out[key] = union(out[key], more);
    else for (const x of more) refuse(`sandbox.${key}: '${x}'`, UNTRUSTED);
  }
  const want = repo.limits ?? {};
  const mine = user?.limits ?? {};
  const limits = { ...mine };
  if (want.processes !== undefined) {
    const cur = mine.processes ?? SANDBOX_LIMIT_DEFAULTS.processes;
    if (want.processes <= cur) limits.processes = want.processes;
    else refuse(`sandbox.limits.processes: ${want.processes}`, `higher than the user's ${cur} — ${LOWER_ONLY}`);
  }
  if (want.memory !== undefined) {
    const cur = mine.memory ?? SANDBOX_LIMIT_DEFAULTS.memoryBytes;
    if ((parseMemorySize(want.memory) ?? Infinity) <= (parseMemorySize(cur) ?? 0)) limits.memory = want.memory;
    else refuse(`sandbox.limits.memory: ${want.memory}`, `more than the user's ${cur} — ${LOWER_ONLY}`);
  }
  if (want.cpu !== undefined) {
    if (mine.cpu === undefined || parseDuration(want.cpu) <= parseDuration(mine.cpu)) limits.cpu = want.cpu;
    else refuse(`sandbox.limits.cpu: ${want.cpu}`, `longer than the user's ${mine.cpu} — ${LOWER_ONLY}`);
  }
  out.limits = Object.keys(limits).length ? limits : undefined;
  return compact(out);
}

function union(a: readonly string[] | undefined, b: readonly string[] | undefined): string[] | undefined {
  const u = [...new Set([...(a ?? []), ...(b ?? [])])];
  return u.length ? u : undefined;
}


function compact(s: SandboxSettings): SandboxSettings | undefined {
  const out = definedOnly(s);
  return Object.keys(out).length ? out : undefined;
}
