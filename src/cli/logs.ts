import fs from 'node:fs';
import { dailyLogPath } from '../report/daily-log.js';
import { redactText } from '../policy/filter.js';

/** Prints a day's log; with `follow`, keeps printing what is appended, moving on to the next day's file at midnight. */
export async function showLogs(home: string, o: { date?: string; follow: boolean }): Promise<number> {
  let day = o.date ? parseDay(o.date) : new Date();
  let file = dailyLogPath(home, day);
  let offset = 0;
  const printNew = (): void => {
    if (!fs.existsSync(file)) return;
    const size = fs.statSync(file).size;
    if (size <= offset) return;
    const fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(size - offset);
    fs.readSync(fd, buf, 0, buf.length, offset);
    fs.closeSync(fd);
    offset = size;
    // Written redacted already; redacted again on the way out in case the file predates a rule.
    process.stdout.write(redactText(buf.toString('utf8')));
  };
  if (!fs.existsSync(file) && !o.follow) {
    process.stdout.write(`kairos: nothing logged on ${file.match(/\d{4}-\d{2}-\d{2}/)?.[0]} (${file})\n`);
    return 0;
  }
  printNew();
  if (!o.follow) return 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    printNew();
    if (!o.date) {
      const today = new Date();
      const next = dailyLogPath(home, today);
      if (next !== file) {
        day = today;
        file = next;
        offset = 0;
      }
    }
  }
}

function parseDay(s: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) throw new Error(`--date ${s}: expected YYYY-MM-DD`);
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
}
