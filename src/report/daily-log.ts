import fs from 'node:fs';
import path from 'node:path';
import { stripTerminalEscapes } from './terminal-text.js';
import { redactText } from '../policy/filter.js';
import { errnoCode } from '../core/errors.js';

export interface DailyLogEntry {
  at: Date;
  /** A repository path; the bullet shows its folder name. */
  repo?: string;
  text: string;
}

/** `$KAIROS_HOME/logs/YYYY/MM/YYYY-MM-DD.md`, by the local date of `date`. */
export function dailyLogPath(home: string, date: Date): string {
  const { y, m, d } = localParts(date);
  return path.join(home, 'logs', y, m, `${y}-${m}-${d}.md`);
}

/**
 * Formats one bullet: `- HH:MM:SS [repo] first line`, later lines indented under it. Ends with a newline.
 * Secrets are redacted: a bullet can quote a task's reason, which can quote a model's summary.
 */
export function formatDailyLogBullet(entry: DailyLogEntry): string {
  const { hh, mm, ss } = localParts(entry.at);
  const lines = stripTerminalEscapes(redactText(entry.text))
    .replace(/\s+$/, '')
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''));
  const repo = entry.repo ? `[${path.basename(entry.repo)}] ` : '';
  const [first = '', ...rest] = lines;
  // Two spaces keep continuation lines inside the list item; blank ones stay blank.
  const tail = rest.map((l) => (l ? `  ${l}` : '')).join('\n');
  return `- ${hh}:${mm}:${ss} ${repo}${first}${rest.length ? '\n' + tail : ''}\n`;
}

/**
 * Appends one timestamped bullet to the day's log, creating the file with its heading if needed.
 * Append-only: the file is opened with 'a' and each bullet is one write(2) on an O_APPEND descriptor,
 * so concurrent writers (daemon, CLI) never interleave or overwrite each other. Returns the file.
 */
export function appendDailyLog(home: string, entry: DailyLogEntry): string {
  const file = dailyLogPath(home, entry.at);
  ensureDailyLogFile(file, entry.at);
  const fd = fs.openSync(file, 'a');
  try {
    fs.writeSync(fd, formatDailyLogBullet(entry));
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

/** The day's log as written, or null when nothing was logged that day. */
export function readDailyLog(home: string, date: Date): string | null {
  try {
    return fs.readFileSync(dailyLogPath(home, date), 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Creates the file with its heading atomically: the heading is written to a private temp file which is then
 * hard-linked into place. link(2) fails if the name exists, so exactly one writer creates the file and no
 * bullet can land before the heading (an open('wx') + write would leave a window for that).
 */
function ensureDailyLogFile(file: string, date: Date): void {
  if (fs.existsSync(file)) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const { y, m, d } = localParts(date);
  const heading = `# Kairos — ${y}-${m}-${d}\n\n`;
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, heading, { flag: 'wx' });
  try {
    fs.linkSync(tmp, file);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'EEXIST') return;
    // Filesystems without hard links: exclusive create is the next best thing.
    try {
      fs.writeFileSync(file, heading, { flag: 'wx' });
    } catch (e2) {
      if (errnoCode(e2) !== 'EEXIST') throw e2;
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function localParts(date: Date): Record<'y' | 'm' | 'd' | 'hh' | 'mm' | 'ss', string> {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return {
    y: p(date.getFullYear(), 4),
    m: p(date.getMonth() + 1),
    d: p(date.getDate()),
    hh: p(date.getHours()),
    mm: p(date.getMinutes()),
    ss: p(date.getSeconds()),
  };
}
