import { createRequire } from 'node:module';
import type nodeCron from 'node-cron';
import type { CronExpressionParser } from 'cron-parser';

/**
 * node-cron (which runs schedules) and cron-parser with luxon (which checks expressions and computes
 * catch-up slots), loaded on first use rather than when the daemon starts: together they cost
 * ~15 MB and ~50 ms, and most repositories have no cron trigger or dream schedule. Both ship a
 * CommonJS build, so `require` keeps their callers synchronous (policy validation is synchronous).
 */
const require = createRequire(import.meta.url);

let cron: typeof nodeCron | undefined;
let parser: typeof CronExpressionParser | undefined;

/** Whether anything in this process has needed either library yet (the daemon's `debug.lazy_modules`). */
export function cronLibsLoaded(): boolean {
  return cron !== undefined || parser !== undefined;
}

export function nodeCronLib(): typeof nodeCron {
  cron ??= (require('node-cron') as { default: typeof nodeCron }).default;
  return cron;
}

export function cronExpressionParser(): typeof CronExpressionParser {
  parser ??= (require('cron-parser') as { CronExpressionParser: typeof CronExpressionParser }).CronExpressionParser;
  return parser;
}
