import { z } from 'zod';
import { ToolCall } from './rules.js';

/**
 * The closed set of policy decisions and how they combine. Every layer answers with a Verdict;
 * deny beats ask, ask beats allow, so adding a layer can only make the result stricter.
 */
export type Verdict =
  | { decision: 'allow'; reason?: string; rule?: string }
  | {
      decision: 'deny';
      reason: string;
      rule?: string;
      /** For deferrals (quiet hours, cool-down): when trying again could succeed. */
      retryAt?: string;
    }
  | {
      decision: 'ask';
      reason: string;
      rule?: string;
      /** Nobody was there to answer: the step waits as a queued approval instead of running. */
      queued?: boolean;
    };

export type Decision = Verdict['decision'];

export const ALLOW: Verdict = { decision: 'allow' };

export function allow(reason?: string, rule?: string): Verdict {
  return { decision: 'allow', ...(reason !== undefined ? { reason } : {}), ...(rule !== undefined ? { rule } : {}) };
}

export function deny(reason: string, rule?: string): Verdict {
  return { decision: 'deny', reason, ...(rule !== undefined ? { rule } : {}) };
}

export function ask(reason: string, rule?: string): Verdict {
  return { decision: 'ask', reason, ...(rule !== undefined ? { rule } : {}) };
}

const RANK: Record<Decision, number> = { allow: 0, ask: 1, deny: 2 };

/**
 * The strictest of the verdicts (the first one of that strictness, so its reason is the one shown).
 * No verdicts at all is allow: a step nothing objects to.
 */
export function combine(verdicts: readonly Verdict[]): Verdict {
  let worst: Verdict = ALLOW;
  for (const v of verdicts) if (RANK[v.decision] > RANK[worst.decision]) worst = v;
  return worst;
}

/**
 * A proposed step, as every layer sees it. `action` says what would happen; the rest says where
 * and on whose behalf.
 */
export const Step = z
  .object({
    /** Absolute path of the watched repository. */
    repo: z.string().min(1),
    /** Absolute path the step is confined to (the task's worktree); the repository when absent. */
    root: z.string().min(1).optional(),
    taskId: z.number().int().optional(),
    trigger: z.string().optional(),
    /** Who proposes it: the model (agent), a trigger of a policy, or the user at the CLI. */
    origin: z.enum(['agent', 'trigger', 'user']),
    action: z.discriminatedUnion('type', [
      /** A tool call by the agent. */
      z.object({ type: z.literal('tool'), call: ToolCall }).strict(),
      /** A trigger's `run:` command, written in a policy file. */
      z.object({ type: z.literal('run'), command: z.string() }).strict(),
      /** Starting a task for a trigger (what the gate rate-limits). */
      z.object({ type: z.literal('task'), kind: z.enum(['command', 'agent', 'notify']) }).strict(),
      /** A model call (what the spend layer prices). */
      z.object({ type: z.literal('model'), model: z.string().min(1), inputTokens: z.number().int().nonnegative(), maxTokens: z.number().int().positive() }).strict(),
      /** Something that leaves the worktree: applying a proposal to the user's tree, a branch, a push. */
      z
        .object({ type: z.literal('apply'), target: z.enum(['user-tree', 'branch', 'remote', 'external']), detail: z.string() })
        .strict(),
    ]),
  })
  .strict();
export type Step = z.infer<typeof Step>;
