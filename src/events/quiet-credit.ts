/**
 * Quiet time a watcher already observed before it handed a batch over, credited to the settle window
 * so that a watcher's own wait does not add to event → trigger latency.
 *
 * Only @parcel/watcher's own backends (inotify, FSEvents, Windows) give such a guarantee, through its
 * debouncer (src/Debounce.cc, MIN_WAIT_TIME 50 / MAX_WAIT_TIME 500, one debouncer per process shared
 * by every subscription). When the watcher's thread is woken by new events it either
 *   - delivers at once, when more than 500 ms have passed since its last delivery (no quiet at all:
 *     the first event after a pause comes alone, and a steady stream gets a delivery every 500 ms), or
 *   - waits, and delivers only after 50 ms without any new event in any subscription of the process.
 * So a delivery less than 500 ms after the previous one was preceded by 50 ms of quiet. The daemon
 * sees deliveries late (they wait for its event loop), so it credits the 50 ms only when deliveries
 * arrive well inside 500 ms of each other, and never more than the files themselves allow: the
 * newest ctime of the batch's files, read by the disk check, bounds the credit (a file changed 10 ms
 * ago has been quiet for 10 ms at most, whatever the watcher did). A batch with a removal or a file
 * the watcher did not name (listed in a new folder) has no ctime to bound it and gets no credit.
 * chokidar and Watchman (its own settle happens in another process) get none: their events settle
 * from their arrival, as before.
 *
 * A credit moves the settle deadline earlier by at most 50 ms, and only in windows long enough for it
 * to be exact (CREDIT_MIN_SETTLE_MS, below); a later event still extends the window from its own time.
 * At worst (the event loop stalled at the wrong moment, or another repository's delivery restarting the
 * debouncer's 500 ms just before a change in the window's last 50 ms) a batch settles up to 50 ms early,
 * i.e. one more batch; nothing is ever lost or reported twice by it.
 */
import type { EventDraft } from './event.js';

/** The debouncer's quiet wait and its longest batching (parcel's Debounce.hh). */
export const PARCEL_QUIET_MS = 50;
const PARCEL_MAX_WAIT_MS = 500;
/** Deliveries this much inside MAX_WAIT of each other count as having waited: room for the event loop's lag. */
const LAG_ALLOWANCE_MS = 150;
/** ctime comes from the kernel's coarse clock, up to a tick behind the real moment of the change. */
const CLOCK_TICK_MS = 10;

/** Milliseconds of quiet already observed before the event reached the daemon (a symbol: never stored, never serialized). */
export const QUIET_BEFORE = Symbol('quietBefore');
export type WithQuiet<T> = T & { [QUIET_BEFORE]?: number };

/**
 * The shortest settle window the credit is exact for. The debouncer delays the NEXT change too: one
 * made in the last 50 ms of a credited window may still sit in it when the window ends, and the batch
 * would settle after less than settle_ms of real quiet. A change made more than 500 ms after the last
 * delivery is handed over at once, so a window at least 500 ms + twice the credit + the event loop's
 * allowance long sees every change of its last 50 ms in time (the default settle_ms, 1500, is). A
 * shorter window gets no credit: it stays exactly as long as it was, measured from arrivals.
 */
export const CREDIT_MIN_SETTLE_MS = PARCEL_MAX_WAIT_MS + 2 * PARCEL_QUIET_MS + LAG_ALLOWANCE_MS;

/** The credit a settler may give an event in a window of `settleMs` (0 when it carries none, or the window is too short for it). */
export function quietBefore(e: object, settleMs: number): number {
  if (settleMs < CREDIT_MIN_SETTLE_MS) return 0;
  const q = (e as WithQuiet<object>)[QUIET_BEFORE];
  return typeof q === 'number' && q > 0 ? q : 0;
}

/** The deliveries of every @parcel/watcher subscription in this process (its debouncer is one per process). */
let lastDelivery = Number.NEGATIVE_INFINITY;

/**
 * Called first thing for every delivery of a parcel subscription: the quiet the debouncer
 * guarantees before it (PARCEL_QUIET_MS or 0), from the time since the previous delivery.
 */
export function noteParcelDelivery(now: number = performance.now()): number {
  const gap = now - lastDelivery;
  lastDelivery = now;
  return gap < PARCEL_MAX_WAIT_MS - LAG_ALLOWANCE_MS ? PARCEL_QUIET_MS : 0;
}

/**
 * Marks drafts with the credit: at most `watcherQuiet`, and never back before the newest change the
 * disk check saw (`newestChangeMs`, epoch ms; undefined: unknown, so no credit).
 */
export function creditDrafts(drafts: readonly EventDraft[], watcherQuiet: number, newestChangeMs: number | undefined, now: number = Date.now()): void {
  if (watcherQuiet <= 0 || newestChangeMs === undefined || !drafts.length) return;
  const credit = Math.min(watcherQuiet, Math.floor(now - newestChangeMs - CLOCK_TICK_MS));
  if (credit <= 0) return;
  for (const d of drafts) (d as WithQuiet<EventDraft>)[QUIET_BEFORE] = credit;
}
