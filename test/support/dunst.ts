import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDbusSession, type DbusSession } from './dbus-session.js';
import { startXvfb, stopProc } from './xvfb.js';

/**
 * A real notification server for the loops a person sees: dunst (Debian package `dunst`) on a
 * private D-Bus session bus under Xvfb. What dunst shows is read back the ways a person's tools
 * would: `dunstctl count displayed`, `dunstctl history`, and a dunst rule whose script records
 * every notification dunst displays (app name, icon path, summary, body). A click on a button is
 * made through dunst's own context menu (`dunstctl context`), whose dmenu is a script that picks
 * the line `[<id>,<action key>]`: dunst then emits ActionInvoked to the notification's sender.
 */

export interface ShownByDunst {
  id: number;
  appName: string;
  summary: string;
  body: string;
  iconPath: string;
  urgency: string;
}

export interface Dunst {
  /** The private bus: give it to the daemon as DBUS_SESSION_BUS_ADDRESS. */
  busAddress: string;
  display: string;
  /** Every notification dunst displayed (in order; a replacement is recorded again under its id). */
  shown(): ShownByDunst[];
  /** The first displayed notification (its index in shown()) that matches, waiting up to `timeoutMs`. */
  waitShown(match: (n: ShownByDunst, index: number) => boolean, what: string, timeoutMs?: number): Promise<ShownByDunst>;
  /** `dunstctl count displayed`. */
  displayedCount(): number;
  /** The ids in `dunstctl history` (notifications closed or timed out). */
  historyIds(): number[];
  /** Clicks a button through dunst's context menu: the action `key` of notification `id`. */
  click(id: number, key: string): void;
  /** `import -window root` to a PNG file. */
  screenshot(file: string): void;
  stop(): Promise<void>;
}

/** Why dunst cannot run here, or null. */
export function dunstUnavailableReason(): string | null {
  const need: [string, string[], string][] = [
    ['dunst', ['--version'], 'dunst'],
    ['dunstctl', ['help'], 'dunst'],
    ['Xvfb', ['-help'], 'xvfb'],
    ['dbus-daemon', ['--version'], 'dbus'],
    ['import', ['-version'], 'imagemagick'],
  ];
  const missing = need.filter(([cmd, args]) => spawnSync(cmd, args, { stdio: 'ignore' }).error).map(([cmd, , pkg]) => `${cmd} (${pkg})`);
  if (process.platform !== 'linux') return 'dunst runs on Linux only';
  return missing.length ? `needs ${missing.join(', ')}; .ci/run installs them` : null;
}

export async function startDunst(): Promise<Dunst> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-dunst-'));
  const shownDir = path.join(dir, 'shown');
  fs.mkdirSync(shownDir);
  const choice = path.join(dir, 'choice');
  const menuScript = path.join(dir, 'menu.sh');
  // dunst writes one line per action ("#Approve (summary) [id,approve]") and reads back the chosen one.
  fs.writeFileSync(menuScript, `#!/bin/sh\nwant=$(cat '${choice}')\ngrep -F -- "$want" | head -n 1\n`, { mode: 0o755 });
  const recordScript = path.join(dir, 'record.sh');
  // Each value base64-encoded on one line: a body has newlines.
  const vars = ['DUNST_ID', 'DUNST_APP_NAME', 'DUNST_SUMMARY', 'DUNST_BODY', 'DUNST_ICON_PATH', 'DUNST_URGENCY'];
  fs.writeFileSync(
    recordScript,
    // Written aside and renamed into place, so a reader never sees half a record.
    `#!/bin/sh\nf='${shownDir}'/$(date +%s%N).$$\n` + vars.map((v) => `printf '%s=%s\\n' ${v} "$(printf '%s' "$${v}" | base64 -w0)" >> "$f.tmp"\n`).join('') + 'mv "$f.tmp" "$f.env"\n',
    { mode: 0o755 },
  );
  const config = path.join(dir, 'dunstrc');
  fs.writeFileSync(
    config,
    [
      '[global]',
      `    dmenu = ${menuScript}`,
      '    format = "<b>%a</b>  %s\\n%b"',
      '    icon_position = left',
      '    min_icon_size = 32',
      '    max_icon_size = 32',
      '    width = 500',
      '    origin = top-right',
      '[record]',
      '    appname = "*"',
      `    script = ${recordScript}`,
      '',
    ].join('\n'),
  );
  let xvfb: Awaited<ReturnType<typeof startXvfb>> | undefined;
  let bus: DbusSession | undefined;
  let proc: ChildProcess | undefined;
  let log = '';
  try {
    xvfb = await startXvfb('1024x600x24');
    bus = await startDbusSession();
    const env: NodeJS.ProcessEnv = { ...process.env, DISPLAY: xvfb.display, DBUS_SESSION_BUS_ADDRESS: bus.address };
    delete env.WAYLAND_DISPLAY;
    proc = spawn('dunst', ['-config', config], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (log += d));
    proc.stderr!.on('data', (d) => (log += d));
    const ctl = (args: string[]): string => {
      const r = spawnSync('dunstctl', args, { env, encoding: 'utf8', timeout: 10_000 });
      if (r.status !== 0) throw new Error(`dunstctl ${args.join(' ')} failed: ${r.stderr || r.error?.message}; dunst said: ${log.slice(-500)}`);
      return r.stdout;
    };
    // Ready once dunst owns the name and answers.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = spawnSync('dunstctl', ['is-paused'], { env, encoding: 'utf8', timeout: 5000 });
      if (r.status === 0 && /true|false/.test(r.stdout)) break;
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`dunst did not start: ${log}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    const shown = (): ShownByDunst[] =>
      fs
        .readdirSync(shownDir)
        .filter((f) => f.endsWith('.env'))
        .sort((a, b) => (BigInt(a.split('.')[0]!) < BigInt(b.split('.')[0]!) ? -1 : 1))
        .map((f) => {
          const vars = Object.fromEntries(
            fs
              .readFileSync(path.join(shownDir, f), 'utf8')
              .split('\n')
              .filter((l) => l.startsWith('DUNST_'))
              .map((l) => [l.slice(0, l.indexOf('=')), Buffer.from(l.slice(l.indexOf('=') + 1), 'base64').toString('utf8')]),
          );
          return { id: Number(vars.DUNST_ID), appName: vars.DUNST_APP_NAME ?? '', summary: vars.DUNST_SUMMARY ?? '', body: vars.DUNST_BODY ?? '', iconPath: vars.DUNST_ICON_PATH ?? '', urgency: vars.DUNST_URGENCY ?? '' };
        });
    const stopAll = { xvfb, bus, proc };
    return {
      busAddress: bus.address,
      display: xvfb.display,
      shown,
      waitShown: async (match, what, timeoutMs = 60_000) => {
        const end = Date.now() + timeoutMs;
        for (;;) {
          const found = shown().find(match);
          if (found) return found;
          if (Date.now() > end) throw new Error(`dunst never showed ${what}; it showed: ${JSON.stringify(shown().map((n) => `${n.id} ${n.summary}`))}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      displayedCount: () => Number(ctl(['count', 'displayed']).trim()),
      historyIds: () => {
        const h = JSON.parse(ctl(['history'])) as { data: Array<Array<{ id: { data: number } }>> };
        return (h.data[0] ?? []).map((n) => n.id.data);
      },
      click: (id, key) => {
        fs.writeFileSync(choice, `[${id},${key}]`);
        ctl(['context']);
      },
      screenshot: (file) => {
        const r = spawnSync('import', ['-window', 'root', file], { env, timeout: 15_000 });
        if (r.status !== 0) throw new Error(`import failed: ${r.stderr?.toString()}`);
      },
      stop: async () => {
        await stopProc(stopAll.proc);
        await stopAll.bus.stop();
        await stopProc(stopAll.xvfb.proc);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await stopProc(proc);
    await bus?.stop();
    await stopProc(xvfb?.proc);
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
