import path from 'node:path';
import type { SandboxSettings } from '../schema.js';
import type { SandboxStatus } from './detect.js';
import { BASE_ENV_ALLOW, envAllowed, fixedEnv } from './env.js';
import { describeLimits, detectLimits, type LimitsStatus } from './limits.js';
import { resolveLimits, type SandboxLimits } from './limits-config.js';
import { hiddenTopLevel, planMounts, sandboxHome, type MountEntry } from './mounts.js';

/**
 * `kairos policy explain --sandbox`: exactly what a command the agent runs in this repository can
 * see — the mount table the runner would mount (built by the same function), what is left out,
 * the environment allow-list and the limits.
 */
export interface SandboxExplanation {
  sandbox: Pick<SandboxStatus, 'backend' | 'available' | 'detail'>;
  limitsBackend: Pick<LimitsStatus, 'backend' | 'detail'>;
  mounts: MountEntry[];
  /** Top-level host folders not mounted at all. */
  hidden: string[];
  env: {
    /** Names and prefixes passed through when set. */
    allow: string[];
    /** Set for every command. */
    fixed: Record<string, string>;
    /** Names of the current environment that would pass. */
    passing: string[];
  };
  limits: SandboxLimits;
  timeoutMs: number;
  network: 'none';
}

export interface ExplainSandboxInput {
  repo: string;
  /** Where a task's worktree would be (the table is the same for every task of the repository). */
  worktree: string;
  home: string;
  settings?: SandboxSettings;
  status: SandboxStatus;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
}

export function explainSandbox(i: ExplainSandboxInput): SandboxExplanation {
  const env = i.env ?? process.env;
  const mounts = planMounts({
    worktree: i.worktree,
    repo: i.repo,
    home: i.home,
    env,
    ...(i.settings?.read ? { read: i.settings.read } : {}),
    ...(i.settings?.write ? { write: i.settings.write } : {}),
  });
  const allow = [...BASE_ENV_ALLOW, ...(i.settings?.env ?? [])];
  const limits = i.status.limits ?? detectLimits({ env });
  return {
    sandbox: { backend: i.status.backend, available: i.status.available, detail: i.status.detail },
    limitsBackend: { backend: limits.backend, detail: limits.detail },
    // Made-up files are shown by what they are, not their content.
    mounts: mounts.map(({ content: _c, ...m }) => m),
    hidden: hiddenTopLevel(mounts),
    env: { allow, fixed: fixedEnv(sandboxHome(i.home)), passing: Object.keys(env).filter((k) => envAllowed(k, allow)).sort() },
    limits: resolveLimits(i.settings, i.timeoutMs),
    timeoutMs: i.timeoutMs,
    network: 'none',
  };
}

const KIND: Record<MountEntry['kind'], string> = { ro: 'ro', rw: 'rw', tmpfs: 'tmpfs', dev: 'dev', proc: 'proc', symlink: 'link', file: 'file' };

export function formatSandboxExplanation(e: SandboxExplanation, repo: string): string {
  const lines: string[] = [];
  const box = e.sandbox.available ? `${e.sandbox.backend}: ${e.sandbox.detail}` : `NO SANDBOX: ${e.sandbox.detail} — agent commands need your approval and run unsandboxed`;
  lines.push(`Sandbox for commands the agent runs in ${repo}`, `  ${box}`, '');
  lines.push('mounts (in order; anything not listed does not exist for the command):');
  const rows = groupSiblings(e.mounts).map((m) => {
    const from = m.kind === 'symlink' ? ` -> ${m.source}` : m.source && m.source !== m.path ? ` (from ${m.source})` : '';
    return { kind: KIND[m.kind], where: m.path + from, why: `${m.reason}: ${m.why}${m.optional && m.reason === 'policy' ? ' (if present)' : ''}` };
  });
  const width = Math.min(50, Math.max(...rows.map((r) => r.where.length)));
  for (const r of rows) lines.push(`  ${r.kind.padEnd(5)} ${r.where.padEnd(width)}  ${r.why}`);
  lines.push('', 'hidden (not mounted):');
  lines.push(`  ${e.hidden.join(' ')}`);
  lines.push('  and: the real $HOME (an empty one instead), $KAIROS_HOME, other repositories, /etc except the files above, every socket, other processes');
  lines.push('', 'environment (allow-list; everything else is dropped):');
  lines.push(`  passed when set: ${e.env.allow.join(' ')}`);
  lines.push(`  set now, would pass: ${e.env.passing.join(' ') || '(none)'}`);
  lines.push(`  always: ${Object.entries(e.env.fixed).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  lines.push('', `limits: ${describeLimits(e.limits)}; wall time ${Math.round(e.timeoutMs / 1000)} s`);
  lines.push(`  backend: ${e.limitsBackend.backend} — ${e.limitsBackend.detail}`);
  lines.push('network: none (own network namespace, not even 127.0.0.1)');
  return lines.join('\n');
}

/** Adjacent entries of one kind and reason in one folder, as one row: /etc/{hosts,ssl,...}. */
function groupSiblings(mounts: readonly MountEntry[]): MountEntry[] {
  const out: MountEntry[] = [];
  for (let i = 0; i < mounts.length; ) {
    const m = mounts[i]!;
    const dir = path.dirname(m.path);
    let j = i + 1;
    const same = (x: MountEntry): boolean => x.kind === m.kind && x.why === m.why && path.dirname(x.path) === dir && (x.source ?? x.path) === x.path;
    while (j < mounts.length && same(mounts[j]!) && (m.source ?? m.path) === m.path) j++;
    if (j - i > 2) {
      const { source: _same, ...rest } = m;
      out.push({ ...rest, path: `${dir}/{${mounts.slice(i, j).map((x) => path.basename(x.path)).join(',')}}` });
    } else out.push(...mounts.slice(i, j));
    i = j;
  }
  return out;
}
