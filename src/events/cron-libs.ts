import { createRequire } from 'node:module';
import type nodeCron from 'node-cron';
import type { CronExpressionParser } from 'cron-parser';
import { isRecord } from '../core/record.js';
import { InternalError } from '../core/errors.js';

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

// `require` answers `any`: each library's shape is checked before it is used as its typed self.
function isNodeCron(v: unknown): v is typeof nodeCron {
  return isRecord(v) && typeof v.schedule === 'function' && typeof v.validate === 'function';
}
function isCronParser(v: unknown): v is typeof CronExpressionParser {
  return typeof v === 'function' && 'parse' in v && typeof v.parse === 'function';
}

export function nodeCronLib(): typeof nodeCron {
  if (cron) return cron;
  const mod: unknown = require('node-cron');
  const lib = isRecord(mod) ? mod.default : undefined;
  if (!isNodeCron(lib)) throw new InternalError('node-cron loaded without its schedule() and validate(): is the installed version the one package.json names?');
  return (cron = lib);
}

export function cronExpressionParser(): typeof CronExpressionParser {
  if (parser) return parser;
  const mod: unknown = require('cron-parser');
  const lib = isRecord(mod) ? mod.CronExpressionParser : undefined;
  if (!isCronParser(lib)) throw new InternalError('cron-parser loaded without CronExpressionParser.parse(): is the installed version the one package.json names?');
  return (parser = lib);
}
