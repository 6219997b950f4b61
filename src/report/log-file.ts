import fs from 'node:fs';
import { errnoCode } from '../core/errors.js';

export interface RotationOptions {
  /** Rotate once the file reaches this size. Default 10 MiB. */
  maxBytes?: number;
  /** Rotated files kept beside it (kairos.log.1 … kairos.log.N, .1 the newest). Default 5. */
  keep?: number;
}

export const LOG_ROTATION_DEFAULTS = { maxBytes: 10 * 1024 * 1024, keep: 5 } as const;

/** Lines held while the disk refuses writes; past this the oldest go (and are counted in a line). */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;

/**
 * The daemon's log file: synchronous appends (so a SIGKILL loses no logged line), renamed aside when it
 * grows past `maxBytes` (pino-roll would do this from a worker thread, asynchronously, which gives that
 * guarantee up). A write never throws: when the disk is full the line is held in memory, bounded, and
 * written before the next line once space returns, with a note of any that had to be dropped.
 */
export class RotatingLogFile {
  private fd: number | undefined;
  private size = 0;
  private readonly maxBytes: number;
  private readonly keep: number;
  private backlog: string[] = [];
  private backlogBytes = 0;
  private dropped = 0;

  constructor(
    readonly file: string,
    o: RotationOptions = {},
  ) {
    this.maxBytes = Math.max(1024, o.maxBytes ?? LOG_ROTATION_DEFAULTS.maxBytes);
    this.keep = Math.max(1, o.keep ?? LOG_ROTATION_DEFAULTS.keep);
    this.open();
  }

  /** pino's destination interface: one serialised line (with its newline) per call. */
  write(line: string): boolean {
    this.hold(line);
    this.drain();
    return true;
  }

  /** Lines waiting for disk space, for `status`. */
  held(): number {
    return this.backlog.length;
  }

  flush(cb?: (err?: Error) => void): void {
    this.drain();
    cb?.();
  }

  flushSync(): void {
    this.drain();
  }

  end(): void {
    this.drain();
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private hold(line: string): void {
    this.backlog.push(line);
    this.backlogBytes += Buffer.byteLength(line);
    while (this.backlogBytes > MAX_BACKLOG_BYTES && this.backlog.length > 1) {
      this.backlogBytes -= Buffer.byteLength(this.backlog.shift()!);
      this.dropped++;
    }
  }

  private drain(): void {
    if (this.fd === undefined && !this.open()) return;
    if (this.dropped) {
      const note = `${JSON.stringify({ level: 40, time: new Date().toISOString(), pid: process.pid, dropped_lines: this.dropped, msg: 'log lines dropped while the disk was full' })}\n`;
      if (!this.append(note)) return;
      this.dropped = 0;
    }
    while (this.backlog.length) {
      const line = this.backlog[0]!;
      if (!this.append(line)) return;
      this.backlog.shift();
      this.backlogBytes -= Buffer.byteLength(line);
    }
  }

  private append(text: string): boolean {
    const buf = Buffer.from(text);
    try {
      let off = 0;
      while (off < buf.length) off += fs.writeSync(this.fd!, buf, off);
      this.size += buf.length;
    } catch {
      // ENOSPC, EDQUOT, EIO: held in memory and tried again with the next line.
      return false;
    }
    if (this.size >= this.maxBytes) this.rotate();
    return true;
  }

  private rotate(): void {
    try {
      if (this.fd !== undefined) fs.closeSync(this.fd);
      this.fd = undefined;
      for (let i = this.keep - 1; i >= 1; i--) renameIfExists(`${this.file}.${i}`, `${this.file}.${i + 1}`);
      fs.renameSync(this.file, `${this.file}.1`);
    } catch {
      // A failed rename leaves the current file growing; the next line tries again.
    }
    this.open();
  }

  private open(): boolean {
    try {
      this.fd = fs.openSync(this.file, 'a', 0o600);
      this.size = fs.fstatSync(this.fd).size;
      return true;
    } catch {
      // ENOSPC, EACCES, EIO: the caller keeps the lines in memory and tries again with the next one.
      this.fd = undefined;
      return false;
    }
  }
}

function renameIfExists(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw e;
  }
}
