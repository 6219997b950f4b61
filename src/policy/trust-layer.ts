import { allow, deny, type Verdict } from './decision.js';
import type { Step } from './decision.js';
import type { TrustStatus } from './trust.js';

/**
 * Layer 2. A repository the user has not trusted gets read-only agent work: the agent may read and
 * search, but not edit (even in its worktree) or run the repository's code. A trusted repository
 * whose pinned policy or hook files changed since (say, after a git pull) gets no model work at all
 * until the user looks and trusts it again.
 */
export function trustLayer(status: TrustStatus): (step: Step) => Verdict {
  return (step) => {
    if (status === 'trusted' || step.origin === 'user') return allow();
    if (status === 'changed') {
      return deny(`the repository's policy or hook files changed since you trusted it; review them and run 'kairos trust ${step.repo}'`);
    }
    if (step.action.type !== 'tool') return allow();
    const call = step.action.call;
    if (call.tool === 'Read') return allow();
    return deny(`untrusted repository: the agent may only read here; run 'kairos trust ${step.repo}' to let it edit its worktree and run commands`);
  };
}

/**
 * Layer 2 for a trigger's own steps (starting its task, running its `run:`). A trigger that came
 * from the repository's own policy runs only while the repository is trusted exactly as pinned: a
 * `git pull` that changes `.kairos/policy.yaml` stops its commands until the user looks again. The
 * user's own triggers run whatever the repository's state — the repository did not write them.
 */
export function triggerTrustLayer(status: TrustStatus, fromRepo: boolean): (step: Step) => Verdict {
  return (step) => {
    if (!fromRepo) return allow("the user's own trigger");
    if (status === 'trusted') return allow("the repository's own trigger; the repository is trusted as pinned");
    if (status === 'changed') {
      return deny(`trigger '${step.trigger ?? '?'}' comes from the repository's own policy, whose policy or hook files changed since you trusted it; review them and run 'kairos trust ${step.repo}'`);
    }
    return deny(`trigger '${step.trigger ?? '?'}' comes from the repository's own policy and the repository is not trusted; run 'kairos trust ${step.repo}'`);
  };
}
