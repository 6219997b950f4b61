import { ControlError } from '../src/cli/protocol.js';
import type { Trigger } from '../src/policy/schema.js';

/**
 * Which repositories `kairos poke [--repo R] [--trigger NAME]` reaches. A named trigger must exist
 * (and be enabled) where it is sent: a poke naming a typo used to be stored, match nothing and
 * still answer "poked". Without --repo, a named trigger goes to the repositories that have it.
 */
export function pokeTargets(repos: ReadonlyMap<string, { triggers: readonly Trigger[] }>, repo: string | undefined, trigger: string | undefined): string[] {
  const targets = repo ? [repo] : [...repos.keys()];
  // Not watched: the daemon is not in the state the poke needs (exit 3), and the hint says how to get it there.
  for (const t of targets) if (!repos.has(t)) throw new ControlError(`${t} is not watched`, 'not_found', { kind: 'daemon_state', hint: `add it with 'kairos start --repo ${t}'` });
  if (trigger === undefined) return targets;
  const firing = targets.filter((r) => repos.get(r)!.triggers.some((t) => t.name === trigger && t.enabled));
  if (firing.length) return firing;
  const where = repo ? `the policy of ${repo}` : 'the policy of any watched repository';
  const all = targets.flatMap((r) => repos.get(r)!.triggers);
  if (all.some((t) => t.name === trigger)) {
    throw new ControlError(`trigger '${trigger}' is disabled (enabled: false) in ${where}`, 'bad_params', { kind: 'user_input', hint: 'enable it in the policy, then poke again' });
  }
  const known = [...new Set(all.filter((t) => t.enabled).map((t) => t.name))].sort();
  throw new ControlError(`no trigger '${trigger}' in ${where}; ${known.length ? `known triggers: ${known.join(', ')}` : 'it has no enabled triggers'}`, 'bad_params', {
    kind: 'user_input',
    hint: "'kairos status' lists each repository's triggers",
  });
}
