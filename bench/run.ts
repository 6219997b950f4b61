/** Runs every benchmark in turn. Not part of `npm test`: numbers beside their peers, not timed tests. */
import { main as daemon } from './daemon.js';
import { main as spendDay } from './spend-day.js';
import { main as compress } from './compress.js';

const failed = await daemon();
await spendDay();
await compress();
process.exitCode = failed ? 1 : 0;
