import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { findOnPath } from './notify.js';
import { messageOf } from '../core/errors.js';

/**
 * Where a Show button (notification or tray) puts the diff for a person to read:
 * $KAIROS_HOME/show/<approval id>.diff, folder 0700 and file 0600 (a diff can hold what the
 * repository holds), then opened with the desktop's default program.
 */
export function writeDiffForViewing(home: string, approvalId: string, diff: string | null): string {
  const dir = path.join(home, 'show');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${approvalId.replace(/[^A-Za-z0-9._-]/g, '_')}.diff`);
  fs.writeFileSync(file, diff ?? '(no diff: this approval is a command; `kairos show ' + approvalId + '` describes it)\n', { mode: 0o600 });
  fs.chmodSync(file, 0o600); // writeFileSync's mode applies only when it creates the file
  return file;
}

/** Opens a file with the desktop's default program (xdg-open, open), detached; a missing opener is ignored. */
export function openWithDesktop(file: string): void {
  const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(opener, [file], { detached: true, stdio: 'ignore' });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // nothing to open it with; the caller has said where the file is
  }
}

/** Whether a file was really put in front of the person, and with what; if not, why not. */
export type OpenResult = { opened: true; via: string } | { opened: false; why: string };

export interface OpenOptions {
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  /** How long an opener may take to say it failed; one still running then is taken as showing the file. Default 4 s. */
  waitMs?: number;
}

/**
 * Opens a file for reading and says honestly whether that worked: the desktop's opener (xdg-open,
 * open) when it is on PATH and exits 0 (or is still running after `waitMs`, as some do while the
 * viewer is open); else a terminal (x-terminal-emulator, with a display) running `less`; else not
 * opened, with the reason, so the caller can say what to run instead.
 */
export async function openForReading(file: string, o: OpenOptions = {}): Promise<OpenResult> {
  const env = o.env ?? process.env;
  const platform = o.platform ?? process.platform;
  const waitMs = o.waitMs ?? 4000;
  const tried: string[] = [];
  const opener = platform === 'darwin' ? 'open' : 'xdg-open';
  const openerPath = onPath(opener, env);
  if (openerPath) {
    const r = await runOpener(openerPath, [file], env, waitMs);
    if (r === 'ok') return { opened: true, via: opener };
    tried.push(`${opener} ${r}`);
  } else tried.push(`no ${opener} on PATH`);
  const hasDisplay = !!(env.DISPLAY || env.WAYLAND_DISPLAY);
  const terminal = platform === 'linux' && hasDisplay ? onPath('x-terminal-emulator', env) : undefined;
  if (terminal && onPath('less', env)) {
    const r = await runOpener(terminal, ['-e', 'less', '-R', file], env, Math.min(waitMs, 1500));
    if (r === 'ok') return { opened: true, via: 'a terminal (less)' };
    tried.push(`x-terminal-emulator ${r}`);
  } else if (platform === 'linux') tried.push(hasDisplay ? 'no x-terminal-emulator' : 'no display for a terminal');
  return { opened: false, why: tried.join('; ') };
}

/** 'ok' when the program exited 0 or is still running after `waitMs` (detached, left running); else what went wrong. */
function runOpener(program: string, args: string[], env: NodeJS.ProcessEnv, waitMs: number): Promise<string> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(program, args, { detached: true, stdio: 'ignore', env });
    } catch (e) {
      resolve(`could not start: ${messageOf(e)}`);
      return;
    }
    const timer = setTimeout(() => {
      child.unref();
      resolve('ok');
    }, waitMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve(`could not start: ${e.message}`);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code === 0 ? 'ok' : `failed (${signal ?? `exit code ${code}`})`);
    });
  });
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  return findOnPath(name, env.PATH ?? '');
}
