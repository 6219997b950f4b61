import type { z } from 'zod';
import type { Budget as BudgetSchema } from '../policy/schema.js';
import { usdToMicro } from './prices.js';

/** The spend caps and the local-time windows they apply to. */

export type CapName = 'task' | 'hour' | 'day' | 'month';
export const CAP_NAMES: readonly CapName[] = ['task', 'hour', 'day', 'month'];

export interface WindowKeys {
  hour: string;
  day: string;
  month: string;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** Local-time window keys for an instant. */
export function windowKeys(now: number): WindowKeys {
  const d = new Date(now);
  const month = `${d.getFullYear()}-${pad(d.getMonth() + 1)}`;
  const day = `${month}-${pad(d.getDate())}`;
  return { month, day, hour: `${day}T${pad(d.getHours())}` };
}

/** When the window containing `now` ends (local time); undefined for the task cap. */
export function windowEnd(cap: CapName, now: number): number | undefined {
  const d = new Date(now);
  if (cap === 'hour') return new Date(d.getFullYear(), d.getMonth(), d.getDate(), d.getHours() + 1).getTime();
  if (cap === 'day') return new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime();
  if (cap === 'month') return new Date(d.getFullYear(), d.getMonth() + 1, 1).getTime();
  return undefined;
}

/** The configured caps in µ$ (omitted caps are absent). */
export function capsMicro(budget: z.infer<typeof BudgetSchema> | undefined): Partial<Record<CapName, number>> {
  const out: Partial<Record<CapName, number>> = {};
  if (!budget) return out;
  if (budget.task_usd !== undefined) out.task = usdToMicro(budget.task_usd);
  if (budget.hour_usd !== undefined) out.hour = usdToMicro(budget.hour_usd);
  if (budget.day_usd !== undefined) out.day = usdToMicro(budget.day_usd);
  if (budget.month_usd !== undefined) out.month = usdToMicro(budget.month_usd);
  return out;
}
