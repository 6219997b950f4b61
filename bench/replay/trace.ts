import { z } from 'zod';

/**
 * A recorded "day in a repo": the repository's starting files, then what happened, minute by
 * minute. Steps that reach the decider on their own (edits, pokes) carry a label: should Kairos
 * act on its own here? Commits and cron ticks are handled by the trace's policy triggers (rules);
 * `result` steps are what those rules' commands produced.
 */

const Label = z.object({ shouldAct: z.boolean(), why: z.string() }).strict();

const Step = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('edit'), atMin: z.number(), files: z.record(z.string(), z.string()), label: Label }).strict(),
  z.object({ kind: z.literal('commit'), atMin: z.number(), message: z.string(), paths: z.array(z.string()) }).strict(),
  z
    .object({
      kind: z.literal('result'),
      atMin: z.number(),
      trigger: z.string(),
      state: z.enum(['done', 'failed']),
      exitCode: z.number().int(),
      output: z.string(),
    })
    .strict(),
  z.object({ kind: z.literal('poke'), atMin: z.number(), note: z.string(), label: Label }).strict(),
  z.object({ kind: z.literal('cron'), atMin: z.number(), trigger: z.string() }).strict(),
]);
export type Step = z.infer<typeof Step>;

export const Trace = z
  .object({
    name: z.string(),
    seed: z.number().int(),
    /** Local wall-clock start, "YYYY-MM-DDTHH:MM". */
    start: z.string(),
    /** The repository's policy, as YAML. */
    policy: z.string(),
    files: z.record(z.string(), z.string()),
    steps: z.array(Step),
  })
  .strict();
export type Trace = z.infer<typeof Trace>;
