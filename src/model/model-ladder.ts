import type { Models } from '../policy/schema.js';

/** The models a call may use, dearest first: the requested one, then the cheaper policy rungs below it. */
export function modelLadder(model: string, models: Models | undefined, enabled = true): string[] {
  if (!enabled) return [model];
  const rungs = [models?.act, models?.triage].filter((m): m is string => Boolean(m));
  const at = rungs.indexOf(model);
  const below = at >= 0 ? rungs.slice(at + 1) : models?.triage ? [models.triage] : [];
  return [...new Set([model, ...below])];
}

