/** Runs every benchmark in turn. Not part of `npm test`: numbers, not pass/fail on a noisy machine. */
import { main as daemon } from './daemon.js';
import { main as spendDay } from './spend-day.js';
import { main as compress } from './compress.js';
import { compare } from './compare.js';

const missed = compare('daemon', await daemon());
await spendDay();
await compress();
process.exitCode = missed ? 1 : 0;
