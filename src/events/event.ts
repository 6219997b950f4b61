import { z } from 'zod';

export const FILE_EVENT_TYPES = ['file.added', 'file.changed', 'file.removed'] as const;
export const GIT_EVENT_TYPES = [
  'git.commit',
  'git.checkout',
  'git.merge',
  'git.rebase',
  'git.pull',
  'git.fetch',
  'git.stash',
  'git.branch-created',
  'git.branch-deleted',
  'git.reset',
] as const;

export const FileEventType = z.enum(FILE_EVENT_TYPES);
export const GitEventType = z.enum(GIT_EVENT_TYPES);
export const EventType = z.enum([...FILE_EVENT_TYPES, ...GIT_EVENT_TYPES, 'cron', 'manual']);
export type EventType = z.infer<typeof EventType>;
export type GitEventType = z.infer<typeof GitEventType>;

/**
 * Who caused the change: the user, or the daemon itself (its own writes never trigger it again).
 * `offline`: a file change made while Kairos was not watching, found on start by comparing the tree
 * with its snapshot; it fires triggers like a user's change, but is not the user editing right now.
 */
export const Origin = z.enum(['user', 'daemon', 'offline']);

const base = {
  repo: z.string().min(1),
  at: z.string().datetime({ offset: true }),
  origin: Origin.default('user'),
};

const FileEvent = z.object({
  ...base,
  type: FileEventType,
  /** Relative to the repository root, with forward slashes. */
  path: z.string().min(1),
  data: z.object({}).passthrough().default({}),
});

const GitEvent = z.object({
  ...base,
  type: GitEventType,
  /** e.g. {from, to, branch, ref, phase} depending on the type; see src/events/git-diff.ts. */
  data: z.record(z.string(), z.unknown()).default({}),
});

const CronEvent = z.object({
  ...base,
  type: z.literal('cron'),
  data: z.object({ trigger: z.string(), slot: z.string(), catchUp: z.boolean().default(false) }),
});

const ManualEvent = z.object({
  ...base,
  type: z.literal('manual'),
  /** `trigger` names the one trigger a poke fires; without it, triggers with `on: {manual: true}` fire. */
  data: z.object({ note: z.string().max(2000).optional(), trigger: z.string().optional() }).default({}),
});

/** An event as a source produces it, before the store gives it an id. */
export const EventDraft = z.union([FileEvent, GitEvent, CronEvent, ManualEvent]);
export type EventDraft = z.infer<typeof EventDraft>;

/** An event as stored: the store assigns `id` in arrival order. */
export type StoredEvent = EventDraft & { id: number; path?: string | undefined };
