import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

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
