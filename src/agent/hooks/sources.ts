import fs from 'node:fs';
import path from 'node:path';
import { readHooksFile } from './claude-import.js';
import { HookConfigError, type HookSource } from './registry.js';
import { errnoCode, isAbsent, messageOf } from '../../core/errors.js';
import { isRecord } from '../../core/record.js';

/**
 * Where a session's hooks are read from, in configuration order:
 *
 *   1. $KAIROS_HOME/hooks.json                      the user's own (always trusted)
 *   2. `extra` sources the caller passes            e.g. hooks from the user's policy, plugins
 *   3. <repo>/.claude/settings.json                 only when the repository is trusted
 *      <repo>/.claude/settings.local.json
 *      <repo>/.kairos/hooks/*.json (sorted)
 *
 * Read once, when the session starts: the result is a snapshot, so a hook (or anything else)
 * that edits a settings file during the session changes nothing until the next session. Trust is
 * decided by the caller (src/policy/trust.ts `trustStatus(db, repo) === 'trusted'`); the trust
 * digest pins exactly these repository files, so a `git pull` that changes them makes the
 * repository 'changed' and its hooks stop running until the user re-trusts.
 */
export interface HookSourcesInput {
  kairosHome?: string;
  repoDir?: string;
  repoTrusted: boolean;
  extra?: readonly HookSource[];
}

export const REPO_HOOK_FILES = ['.claude/settings.json', '.claude/settings.local.json'] as const;
export const REPO_HOOK_DIR = '.kairos/hooks';

export function loadHookSources(input: HookSourcesInput): HookSource[] {
  const sources: HookSource[] = [];
  if (input.kairosHome) {
    const file = path.join(input.kairosHome, 'hooks.json');
    sources.push({ label: file, trusted: true, hooks: readHooksFile(file) });
  }
  sources.push(...(input.extra ?? []));
  if (input.repoDir) {
    for (const file of repoHookFiles(input.repoDir)) {
      if (input.repoTrusted) sources.push({ label: file, trusted: true, hooks: readHooksFile(file) });
      else if (fs.existsSync(file)) sources.push({ label: file, trusted: false, hooks: peekHooks(file) });
    }
  }
  return sources;
}

/** A repository's hook settings files, in configuration order (the two .claude files whether or not they exist). */
export function repoHookFiles(repoDir: string): string[] {
  return [...REPO_HOOK_FILES.map((f) => path.join(repoDir, f)), ...listJson(path.join(repoDir, REPO_HOOK_DIR))];
}

function listJson(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => path.join(dir, f));
  } catch (e) {
    // No such folder: no hooks there. An unreadable one is not "no hooks": hooks can be guards, and
    // running without them unsaid would drop them. Said, with what to fix.
    if (isAbsent(e)) return [];
    throw new HookConfigError(`${dir}: cannot list its hook files (${errnoCode(e) ?? messageOf(e)}) — check its permissions`, [], { cause: e });
  }
}

/** An untrusted file is never run, only reported; a broken one must not stop the session. */
function peekHooks(file: string): unknown {
  try {
    const json: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    return isRecord(json) ? json.hooks : undefined;
  } catch {
    // Read only to report what an untrusted file would add; it is never run, so nothing is lost.
    return undefined;
  }
}
