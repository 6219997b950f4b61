import { z } from 'zod';
import picomatch from 'picomatch';
import { cronExpressionParser, nodeCronLib } from '../events/cron-libs.js';
import { GIT_EVENT_TYPES } from '../events/event.js';
import { parseRule } from './rules.js';
import { MEMORY_SIZE_RE, parseMemorySize } from './sandbox/size.js';
import { messageOf } from '../core/errors.js';
import { isRecord } from '../core/record.js';

/**
 * The policy file's shape. This schema is the single source of truth: the TypeScript types
 * are inferred from it and policies/policy.schema.json is generated from it
 * (scripts/gen-policy-schema.ts). Every object is strict so a misspelt key is an error,
 * not silently ignored.
 *
 * Custom messages are written "<what is wrong> — <how to fix>"; src/policy/load.ts adds the
 * file, line and field, and a fix for zod's built-in messages.
 */

/** What the engine uses when a policy leaves a value out (the merge compares against these). */
export const ENGINE_DEFAULTS = {
  settle_ms: 1500,
  timeout_ms: 10 * 60_000,
  output_limit_bytes: 64_000,
} as const;

export const NotifyMode = z
  .enum(['always', 'on_failure', 'on_change', 'never'])
  .describe('When to show a desktop notification for a finished task.');
export type NotifyMode = z.infer<typeof NotifyMode>;

/** "30s", "5m", "2h", or a number of milliseconds. */
export const Duration = z
  .union([
    z.number().int().nonnegative(),
    z.string().regex(/^\d+(ms|s|m|h|d)$/, 'is not a duration — write e.g. "500ms", "30s", "5m", "2h" or "1d", or a whole number of milliseconds'),
  ])
  .describe('A duration: "500ms", "30s", "5m", "2h", "1d", or a whole number of milliseconds.');
export type Duration = z.infer<typeof Duration>;

export const GIT_TRIGGER_TYPES: readonly string[] = GIT_EVENT_TYPES.map((t) => t.slice(4));

/**
 * A glob is matched against paths relative to the repository root, so an absolute glob or one
 * that climbs out of the repository can never match: say so instead of silently never firing.
 */
function checkGlob(glob: string, ctx: z.core.$RefinementCtx<string>): void {
  const fail = (message: string) => ctx.addIssue({ code: 'custom', message, input: glob });
  if (glob.startsWith('/') || /^[A-Za-z]:[\\/]/.test(glob) || glob.startsWith('~')) {
    return fail(`'${clip(glob)}' is an absolute path — globs are relative to the repository root: write e.g. "src/**/*.ts"`);
  }
  if (glob.split('/').includes('..')) {
    return fail(`'${clip(glob)}' leaves the repository — globs are relative to the repository root and cannot contain ".."`);
  }
  let re: RegExp;
  try {
    re = picomatch.makeRe(glob, { dot: true, strictBrackets: true });
  } catch (e) {
    const open = /Missing closing: "(.)"/.exec(messageOf(e))?.[1];
    return fail(
      open
        ? `'${clip(glob)}' is not a valid glob: missing closing "${open}" — add it, or write "\\${OPENERS[open] ?? open}" to match the character itself`
        : `'${clip(glob)}' is not a valid glob (${messageOf(e).split('\n')[0]}) — check its brackets and braces`,
    );
  }
  // picomatch turns an unbalanced brace into a pattern that matches nothing.
  if (re.source === '$^') {
    return fail(`'${clip(glob)}' can never match anything — check that every "{" has a matching "}"`);
  }
}

/** Cron in local time, five fields ("m h dom mon dow"): node-cron runs it, cron-parser explains errors. */
function checkCron(expr: string, ctx: z.core.$RefinementCtx<string>): void {
  const fail = (message: string) => ctx.addIssue({ code: 'custom', message, input: expr });
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5) {
    return fail(
      `'${clip(expr)}' has ${fields.length} field${fields.length === 1 ? '' : 's'}, a cron expression has 5 — write "minute hour day-of-month month day-of-week", e.g. "0 9 * * 1-5"`,
    );
  }
  let detail: string | undefined;
  try {
    cronExpressionParser().parse(expr);
  } catch (e) {
    detail = messageOf(e).split('\n')[0];
  }
  if (detail !== undefined || !nodeCronLib().validate(expr)) {
    return fail(
      `'${clip(expr)}' is not a valid cron expression${detail ? ` (${detail})` : ''} — write "minute hour day-of-month month day-of-week", e.g. "*/15 * * * *"`,
    );
  }
}

const OPENERS: Record<string, string> = { ']': '[', ')': '(', '}': '{' };

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

const Glob = z.string().min(1).superRefine(checkGlob);
const CronExpr = z.string().min(1).superRefine(checkCron);
const SettleMs = z.number().int().min(0).max(600_000).describe('Quiet window in milliseconds before a burst of events settles.');

export const TriggerName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+$/, 'is not a valid trigger name — use letters, digits, ".", "_" and "-" only, e.g. unit-tests');

export const TriggerOn = z
  .object({
    fs: z.array(Glob).min(1).optional().describe('Globs relative to the repository root, e.g. ["src/**/*.ts"].'),
    git: z.array(z.enum(GIT_TRIGGER_TYPES)).min(1).optional().describe('Git event types, e.g. ["commit", "checkout"].'),
    cron: CronExpr.optional().describe('A five-field cron expression in local time, e.g. "0 9 * * 1-5".'),
    manual: z.boolean().optional().describe('Fire on `kairos poke`.'),
  })
  .strict()
  .refine((o) => o.fs || o.git || o.cron || o.manual, {
    message: 'this trigger listens to nothing — add at least one of fs, git, cron or manual: true under "on"',
  });
export type TriggerOn = z.infer<typeof TriggerOn>;

/**
 * A trigger with neither `run` nor `ask` is a notification-only trigger ("tell me when a
 * migration file changes"): it is valid only with `notify: always`, because with nothing run
 * there is no failure or change of result to notify on. It is also the only kind of trigger an
 * untrusted repository may add.
 */
export const Trigger = z
  .object({
    name: TriggerName.describe('Unique name of the trigger.'),
    on: TriggerOn,
    settle_ms: SettleMs.optional(),
    run: z.string().min(1).optional().describe('A shell command run in the repository when matching events settle.'),
    /** Instruction for the agent (model issue); `ask_on` says when. */
    ask: z.string().min(1).optional().describe('An instruction for the agent.'),
    ask_on: z.enum(['failure', 'always']).optional().describe('When to ask the agent: after `run` fails, or always.'),
    cooldown: Duration.optional().describe('Minimum time between two runs of this trigger.'),
    max_per_hour: z.number().int().positive().optional().describe('At most this many starts in any rolling hour; later ones wait.'),
    timeout: Duration.optional().describe('Time limit for `run`.'),
    notify: NotifyMode.default('on_failure'),
    after_apply: z.enum(['rerun']).optional().describe('rerun: once a proposal this trigger led to is applied, run `run` again and notify whether it passes now.'),
    enabled: z.boolean().default(true),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.after_apply && !t.run) {
      ctx.addIssue({ code: 'custom', path: ['after_apply'], message: 'after_apply: rerun needs a run command to run again — add run: <command>, or remove after_apply' });
    }
    if (!t.run && !t.ask && t.notify !== 'always') {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `trigger '${t.name}' does nothing: it has neither run nor ask — add run: <command>, ask: <instruction>, or notify: always for a notification-only trigger`,
      });
    }
    if (t.ask_on && !t.ask) {
      ctx.addIssue({ code: 'custom', path: ['ask_on'], message: 'ask_on without ask — add ask: <instruction for the agent>, or remove ask_on' });
    } else if (t.ask_on === 'failure' && !t.run) {
      ctx.addIssue({ code: 'custom', path: ['ask_on'], message: 'ask_on: failure needs a run command that can fail — add run: <command>, or use ask_on: always' });
    }
  });
export type Trigger = z.infer<typeof Trigger>;

/**
 * Changes to a trigger defined by the policy below this one, by name. In a repository file these
 * may only tighten (see src/policy/merge.ts), so they are the way a repository disables or slows
 * down one of the user's triggers.
 */
export const TriggerOverride = z
  .object({
    enabled: z.boolean().optional(),
    settle_ms: SettleMs.optional(),
    cooldown: Duration.optional(),
    timeout: Duration.optional(),
    notify: NotifyMode.optional(),
  })
  .strict();
export type TriggerOverride = z.infer<typeof TriggerOverride>;

const Usd = z.number().nonnegative().describe('US dollars.');
export const Budget = z
  .object({
    task_usd: Usd.optional(),
    hour_usd: Usd.optional(),
    day_usd: Usd.optional(),
    month_usd: Usd.optional(),
    triage_min_tokens: z.number().int().min(1).max(64_000).optional().describe('When money is short a triage call is sent with fewer output tokens, down to this many (default 256), and refused below it.'),
    act_min_tokens: z.number().int().min(1).max(64_000).optional().describe('When money is short an agent turn is sent with fewer output tokens, down to this many (default 1024), and refused below it.'),
  })
  .strict()
  .describe('Spend caps: a model call whose worst-case cost does not fit under every cap is not made (max_tokens is lowered to fit, down to a useful floor).');
export type Budget = z.infer<typeof Budget>;

export const Models = z
  .object({
    triage: z.string().min(1).optional().describe('Cheap model that decides whether to act.'),
    act: z.string().min(1).optional().describe('Model that does the work.'),
    fallback_after: z.number().int().min(1).max(20).optional().describe('After this many consecutive 429/529 answers a call falls back one model (act → triage → none) for the rest of its task (default 3).'),
  })
  .strict();
export type Models = z.infer<typeof Models>;

/**
 * `Tool` or `Tool(specifier)`, e.g. `Bash(npm test:*)`, `Read(src/**)`, `mcp__server__tool`.
 * The syntax is defined once, by the permission layer's parser; checking it here puts a bad rule's
 * file and line in the PolicyError instead of failing later, at the first tool call.
 */
const Rule = z
  .string()
  .min(1)
  .superRefine((text, ctx) => {
    try {
      parseRule(text);
    } catch (e) {
      const message = messageOf(e);
      ctx.addIssue({ code: 'custom', input: text, message: message.includes(' — ') ? message : `${message} — write Tool or Tool(specifier), e.g. "Bash(npm test)"` });
    }
  });

export const Permissions = z
  .object({
    allow: z.array(Rule).default([]),
    ask: z.array(Rule).default([]),
    deny: z.array(Rule).default([]),
  })
  .strict()
  .describe('Tool-call rules; deny wins over ask, ask over allow; an unmatched call is ask.');
export type Permissions = z.infer<typeof Permissions>;

/**
 * An MCP server name becomes part of tool names, `mcp__<server>__<tool>`, which the permission
 * rules split at the first "__": a name with "__" in it, or ending in "_", would be split wrongly.
 */
export const McpServerName = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, 'an MCP server name has only letters, digits, "_" and "-" — rename it, e.g. "docs"')
  .refine((n) => !n.includes('__') && !n.endsWith('_'), {
    message: 'an MCP server name may not contain "__" or end with "_" (it would make mcp__<server>__<tool> ambiguous) — use single "_" or "-" inside the name',
  });

/** An MCP server the agent may use: a command speaking MCP over stdio, or a streamable HTTP endpoint. */
export const McpServerConfig = z.union(
  [
    z
      .object({
        command: z.string().min(1).describe('The program to run; it speaks MCP over stdin/stdout.'),
        args: z.array(z.string()).optional().describe('Arguments for the command.'),
        env: z.record(z.string(), z.string()).optional().describe('Extra environment variables; the server otherwise gets only PATH and HOME.'),
      })
      .strict(),
    z
      .object({
        url: z.url({ protocol: /^https?$/, message: 'is not an http(s) URL — write e.g. "https://mcp.example.com/mcp"' }).describe('A streamable HTTP MCP endpoint, e.g. "http://127.0.0.1:8931/mcp".'),
        headers: z.record(z.string(), z.string()).optional().describe('HTTP headers sent with every request.'),
      })
      .strict(),
  ],
  { message: 'is not an MCP server — write {command: "...", args: [...], env: {...}} for a stdio server or {url: "https://..."} for a streamable HTTP one' },
);
export type McpServerConfig = z.infer<typeof McpServerConfig>;

const ClockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a 24-hour time like "22:00"');

/** When Kairos may start work on its own (src/policy/gate.ts). A user's own poke is never held. */
export const GateSettings = z
  .object({
    quiet_hours: z
      .object({ start: ClockTime, end: ClockTime })
      .strict()
      .optional()
      .describe('Local time window with no automatic work; may wrap midnight, e.g. {start: "22:00", end: "07:00"}. Work waits until it ends.'),
    max_actions_per_hour: z.number().int().positive().optional().describe('At most this many tasks started in any rolling hour, all triggers together.'),
    edit_backoff: Duration.optional().describe('Hold automatic work while you changed files within this long (e.g. "20s").'),
  })
  .strict();
export type GateSettings = z.infer<typeof GateSettings>;

/** The nightly memory job (src/pipeline/dream.ts); see DREAM_DEFAULTS for what an absent key means. */
export const DreamSettings = z
  .object({
    enabled: z.boolean().optional().describe('Rewrite each repository\'s MEMORY.md nightly from the daily logs (default true).'),
    cron: CronExpr.optional().describe('When, in local time (default "0 3 * * *").'),
  })
  .strict()
  .describe('The nightly "dream" job: the cheap model rewrites $KAIROS_HOME/memory/<repo>/MEMORY.md from the recent daily logs.');
export type DreamSettings = z.infer<typeof DreamSettings>;
export const DREAM_DEFAULTS = { enabled: true, cron: '0 3 * * *' } as const;

/** When the user counts as away, and how notifications are batched while they are not. */
export const PresenceSettings = z
  .object({
    away_after: Duration.optional().describe('No file change and no kairos command for this long means away (default "15m").'),
    batch_every: Duration.optional().describe('While you are active, non-urgent notifications (all but critical) are gathered and shown as one at most this often, e.g. "10m"; unset: each is shown at once.'),
  })
  .strict();
export type PresenceSettings = z.infer<typeof PresenceSettings>;

/** How Kairos reaches the person at the desk besides desktop notifications (src/report/speech.ts). Only the user policy sets it. */
export const NotifySettings = z
  .object({
    speak: z.boolean().optional().describe('Also say failures, proposals and urgent notices aloud in a short phrase, through speech-dispatcher (spd-say) or espeak-ng (default false).'),
  })
  .strict();
export type NotifySettings = z.infer<typeof NotifySettings>;

/** The ambient triage step (src/pipeline/decide.ts). */
export const TriageSettings = z
  .object({
    enabled: z.boolean().optional().describe('Ask the triage model about changes no trigger handles (default true); false leaves only the rules.'),
    reserve_usd: Usd.optional().describe('Ambient triage sleeps when less than this is left under any cap, keeping it for your own requests (default 0).'),
    look_every: Duration.optional().describe(
      'After a look that found nothing to do, the next ambient look at a repository waits at least this long, twice as long after each further such look, up to 16 times (default "10m"). A failing command or a poke is never held.',
    ),
  })
  .strict();
export type TriageSettings = z.infer<typeof TriageSettings>;

/** Coordinated workers: how many parallel worker tasks one action task may split into (src/agent/workers.ts). */
export const WorkersSettings = z
  .object({
    max: z.number().int().min(1).max(8).optional().describe('At most this many workers per split (default 3, at most 8); a repository may lower it, and raise it only when trusted.'),
  })
  .strict()
  .describe('An action task may split its work into parallel worker tasks, each in its own worktree with a slice of the task budget.');
export type WorkersSettings = z.infer<typeof WorkersSettings>;
export const WORKERS_DEFAULTS = { max: 3 } as const;

/**
 * The command sandbox (src/policy/sandbox/): what a sandboxed command may see beyond the defaults
 * (system and toolchain directories, the worktree, a private /tmp), and its resource limits.
 * `kairos policy explain --sandbox` prints the effective result.
 */
const SandboxPath = z
  .string()
  .min(1)
  .superRefine((p, ctx) => {
    const fail = (message: string) => ctx.addIssue({ code: 'custom', message, input: p });
    if (/^(\/+|~\/*)$/.test(p)) return fail(`'${p}' would show the whole ${p.startsWith('~') ? 'home directory, credentials included' : 'machine'} — name the directories a tool needs, e.g. "~/.cargo"`);
    if (!p.startsWith('/') && !p.startsWith('~/')) return fail(`'${clip(p)}' is not an absolute path — write e.g. "/opt/go" or "~/.cargo"`);
    if (p.split('/').includes('..')) return fail(`'${clip(p)}' contains ".." — write the directory itself, e.g. "~/.cargo"`);
  });
const MemorySize = z
  .union([z.number().int(), z.string().regex(MEMORY_SIZE_RE, 'is not a size — write e.g. "512MiB" or "2GiB", or a whole number of bytes')])
  .refine((v) => (parseMemorySize(v) ?? 0) >= 64 * 1024 ** 2, { message: 'is below 64 MiB, too little for most tools — write e.g. "512MiB" or "2GiB"' })
  .describe('A memory size: "512MiB", "2GiB", or a whole number of bytes.');
export const SandboxSettings = z
  .object({
    read: z.array(SandboxPath).optional().describe('More paths sandboxed commands may read, e.g. toolchains: ["~/.cargo", "~/.rustup", "/opt/go"].'),
    write: z.array(SandboxPath).optional().describe('More paths sandboxed commands may write (besides the worktree and a private /tmp).'),
    env: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/, 'is not an environment variable name — write e.g. "GOPATH", or "CARGO_*" for a prefix'))
      .optional()
      .describe('More environment variables passed to sandboxed commands, by name ("GOPATH") or prefix ("CARGO_*").'),
    limits: z
      .object({
        processes: z.number().int().min(8).max(65_536).optional().describe('Most processes and threads at once (default 1024).'),
        memory: MemorySize.optional().describe('Most memory (default "2GiB").'),
        cpu: Duration.optional().describe("CPU time per process (default: the command's time limit)."),
      })
      .strict()
      .optional(),
  })
  .strict()
  .describe('The command sandbox: extra paths and variables a sandboxed command may see, and its limits.');
export type SandboxSettings = z.infer<typeof SandboxSettings>;
/** How long the store keeps history (src/store/retention.ts). */
export const RetentionSettings = z
  .object({
    events_days: z.number().int().min(0).max(36_500).optional().describe('Events older than this many days are removed (default 30; 0 keeps them forever). Unsettled events and those a live task or an open approval points to are kept.'),
    tasks_days: z.number().int().min(0).max(36_500).optional().describe('Finished tasks older than this many days are removed with their batches (default 90; 0 keeps them forever). Audit rows are never removed.'),
  })
  .strict()
  .describe('History kept in $KAIROS_HOME/kairos.db; old rows are pruned in small steps in the background. Only the user policy sets it.');
export type RetentionSettings = z.infer<typeof RetentionSettings>;

export const Policy = z
  .object({
    version: z.literal(1).default(1),
    triggers: z.array(Trigger).default([]),
    overrides: z.record(TriggerName, TriggerOverride).optional(),
    budget: Budget.optional(),
    models: Models.optional(),
    permissions: Permissions.optional(),
    gate: GateSettings.optional(),
    mcp_servers: z
      .record(McpServerName, McpServerConfig)
      .optional()
      .describe('MCP servers whose tools the agent may use, as mcp__<server>__<tool>, under the permission rules.'),
    dream: DreamSettings.optional(),
    presence: PresenceSettings.optional(),
    triage: TriageSettings.optional(),
    workers: WorkersSettings.optional(),
    sandbox: SandboxSettings.optional(),
    retention: RetentionSettings.optional(),
    notify: NotifySettings.optional(),
    /** Extra paths to ignore, in .gitignore syntax, on top of .gitignore and .kairosignore. */
    ignore: z.array(z.string()).optional().describe('Extra paths to ignore, in .gitignore syntax.'),
    defaults: z
      .object({
        settle_ms: SettleMs.optional(),
        timeout: Duration.optional(),
        output_limit_bytes: z.number().int().min(1024).max(10_000_000).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine(
    (p, ctx) => {
      // Runs even when other fields failed (so all problems are reported at once), hence the
      // value may be the raw input: look only at what is certainly there.
      const triggers: unknown = (p as { triggers?: unknown }).triggers;
      if (!Array.isArray(triggers)) return;
      const first = new Map<string, number>();
      triggers.forEach((t: unknown, i) => {
        const name = isRecord(t) ? t.name : undefined;
        if (typeof name !== 'string') return;
        const j = first.get(name);
        if (j === undefined) first.set(name, i);
        else {
          ctx.addIssue({
            code: 'custom',
            path: ['triggers', i, 'name'],
            message: `duplicate trigger name '${name}' (already used by triggers[${j}]) — trigger names must be unique: rename one`,
          });
        }
      });
    },
    { when: () => true },
  )
  .describe('Kairos policy file (policies/default.yaml, $KAIROS_HOME/policy.yaml, <repo>/.kairos/policy.yaml).');
export type Policy = z.infer<typeof Policy>;
