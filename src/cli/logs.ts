import fs from 'node:fs';
import { dailyLogPath } from '../report/daily-log.js';
import { redactText } from '../policy/filter.js';
import { UsageError } from './context.js';

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

/** A calendar day; Date would roll 2026-13-45 over to 2027-02-14, so the parts must survive the round trip. */
export function parseDay(s: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) throw new UsageError(`--date ${s}: expected a day as YYYY-MM-DD, e.g. --date ${isoDay(new Date())}`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = new Date(2000, 0, 1);
  day.setFullYear(y, mo - 1, d); // unlike new Date(y, ...), keeps years below 100 as written
  if (day.getFullYear() !== y || day.getMonth() !== mo - 1 || day.getDate() !== d) {
    const why = mo < 1 || mo > 12 ? `there is no month ${m[2]}` : `${m[1]}-${m[2]} has no day ${m[3]}`;
    throw new UsageError(`--date ${s}: not a real day (${why}); expected YYYY-MM-DD`);
  }
  return day;
}

function isoDay(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}
