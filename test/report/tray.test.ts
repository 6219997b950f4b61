import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { callDaemon } from '../../src/cli/control-client.js';
import { localTrayFacts } from '../../src/cli/tray-command.js';
import { isPaused } from '../../src/pipeline/approvals.js';
import {
  menuStructure,
  onClick,
  readTrayState,
  spendFacts,
  trayEnvironment,
  trayMenu,
  trayStatus,
  itemsByKey,
  TrayUnavailableError,
  type TrayState,
} from '../../src/report/tray.js';
import { trayIconPng } from '../../src/report/tray-icons.js';
import { startApprovalControl, type ApprovalControl } from '../support/approval-control.js';
import { startDbusSession, type DbusSession } from '../support/dbus-session.js';
import { nodeArgsFor, REPO_ROOT } from '../support/paths.js';
import { startXvfb, stopProc } from '../support/xvfb.js';

const base: TrayState = { online: true, paused: false, pending: [], spendToday: { spentUsd: 0.42, capUsd: 5 }, budgetLow: false };
const two: TrayState = {
  ...base,
  pending: [
    { id: 'a1', kind: 'proposal', summary: 'Fix the flaky date test', repo: '/src/app', expires_at: '2030-01-01T00:00:00.000Z', cost_usd: 0.03 },
    { id: 'b2', kind: 'command', summary: 'Run the migration', repo: null },
  ],
};

describe('tray model (pure)', () => {
  test('status: offline, then paused, then pending, then budget low, then watching', () => {
    assert.equal(trayStatus({ ...two, online: false, paused: true }), 'offline');
    assert.equal(trayStatus({ ...two, paused: true }), 'paused');
    assert.equal(trayStatus({ ...two, budgetLow: true }), 'pending');
    assert.equal(trayStatus({ ...base, budgetLow: true }), 'budget-low');
    assert.equal(trayStatus(base), 'watching');
  });

  test('two pending approvals: a status line, spend, one entry each with Approve / Deny / Show, Pause, daily log', () => {
    const m = trayMenu(two);
    assert.equal(m.status, 'pending');
    assert.equal(m.title, '2');
    assert.match(m.tooltip, /Kairos: 2 pending/);
    assert.match(m.tooltip, /Spend today: \$0\.42 of \$5\.00/);
    const titles = m.items.map((i) => (i.separator ? '---' : i.title));
    assert.deepEqual(titles, [
      'Kairos: 2 pending',
      'Spend today: $0.42 of $5.00',
      '---',
      'a1 [app] · Fix the flaky date test',
      'b2 · Run the migration',
      '---',
      'Pause',
      'Open daily log',
      'Quit tray',
    ]);
    const a1 = m.items.find((i) => i.key === 'pending:a1')!;
    assert.deepEqual(a1.items!.map((i) => i.title), ['Approve', 'Deny', 'Show diff']);
    // The id the item shows is the one to undo with (issue 12).
    assert.equal(a1.items![0]!.tooltip, 'apply exactly this diff; undo later with: kairos undo a1');
    assert.equal(m.items[0]!.enabled, false);
  });

  test('a click maps to the control call the daemon expects', () => {
    const by = itemsByKey(trayMenu(two).items);
    assert.deepEqual(onClick(by.get('approve:a1')!), { kind: 'control', method: 'approvals.approve', params: { id: 'a1', channel: 'tray' } });
    assert.deepEqual(onClick(by.get('deny:b2')!), { kind: 'control', method: 'approvals.deny', params: { id: 'b2', channel: 'tray' } });
    assert.deepEqual(onClick(by.get('show:a1')!), { kind: 'control', method: 'approvals.show', params: { id: 'a1' }, after: 'open-diff' });
    assert.deepEqual(onClick(by.get('pause')!), { kind: 'control', method: 'pause', params: { channel: 'tray' } });
    assert.deepEqual(onClick(itemsByKey(trayMenu({ ...two, paused: true }).items).get('pause')!), { kind: 'control', method: 'resume', params: {} });
    assert.deepEqual(onClick(by.get('open-log')!), { kind: 'open-log' });
    assert.equal(onClick(by.get('status')!), null);
  });

  test('Pause ↔ Resume and a new count keep the structure; a new pending approval changes it', () => {
    assert.equal(menuStructure(trayMenu(two).items), menuStructure(trayMenu({ ...two, paused: true }).items));
    assert.equal(menuStructure(trayMenu(two).items), menuStructure(trayMenu({ ...two, spendToday: { spentUsd: 3, capUsd: 5 } }).items));
    assert.notEqual(menuStructure(trayMenu(two).items), menuStructure(trayMenu({ ...two, pending: two.pending.slice(1) }).items));
  });

  test('offline: says so, nothing to decide, Pause disabled', () => {
    const m = trayMenu({ ...base, online: false, error: 'no Kairos daemon is running' });
    assert.equal(m.status, 'offline');
    assert.match(m.items[0]!.title, /daemon not running/);
    assert.equal(m.items.find((i) => i.key === 'pause')!.enabled, false);
    assert.equal(onClick(m.items.find((i) => i.key === 'pause')!), null);
  });

  test('more pending than fit: the rest are counted, with the command to list them', () => {
    const many = { ...base, pending: Array.from({ length: 11 }, (_, i) => ({ id: `p${i}`, kind: 'proposal', summary: `s${i}` })) };
    const m = trayMenu(many, { maxPending: 8 });
    assert.equal(m.items.filter((i) => i.key.startsWith('pending:')).length, 8);
    assert.match(m.items.find((i) => i.key === 'more')!.title, /3 more: run `kairos pending`/);
  });

  test('spend: budget low below 20% of a cap left, from the day or the month window', () => {
    assert.deepEqual(spendFacts({ day: { spent_usd: 4.5, cap_usd: 5, left_usd: 0.5 } }), { spendToday: { spentUsd: 4.5, capUsd: 5 }, budgetLow: true });
    assert.equal(spendFacts({ day: { spent_usd: 1, cap_usd: 5, left_usd: 4 }, month: { spent_usd: 95, cap_usd: 100, left_usd: 5 } }).budgetLow, true);
    assert.equal(spendFacts({ day: { spent_usd: 1, cap_usd: 5, left_usd: 4 } }).budgetLow, false);
    assert.deepEqual(spendFacts({}).spendToday, { spentUsd: 0, capUsd: null });
  });

  test('icons: a valid 22×22 RGBA PNG per state, different images for different states and counts', () => {
    const a = trayIconPng('pending', 2);
    assert.deepEqual([...a.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(a.readUInt32BE(16), 22);
    assert.equal(a.readUInt32BE(20), 22);
    const idat = a.subarray(33 + 8, a.length - 12 - 4);
    assert.equal(inflateSync(idat).length, (22 * 4 + 1) * 22);
    const all = [trayIconPng('watching'), trayIconPng('paused'), trayIconPng('budget-low'), trayIconPng('offline'), a, trayIconPng('pending', 3), trayIconPng('pending', 12)];
    assert.equal(new Set(all.map((b) => b.toString('base64'))).size, all.length);
  });

  test('no graphical session: the tray refuses with the reason', () => {
    assert.throws(() => trayEnvironment('/nonexistent', { PATH: process.env.PATH }, 'linux'), TrayUnavailableError);
  });
});

describe('tray state from a real control socket', () => {
  let control: ApprovalControl;
  before(async () => {
    control = await startApprovalControl((queue) => ({
      status: () => ({ pid: 1, paused: isPaused(queue.db), spend: { day: { spent_usd: 4.2, cap_usd: 5, left_usd: 0.8 } }, model_steps: { paused: null } }),
    }));
    control.enqueue('first');
    control.enqueue('second');
  });
  after(async () => control?.close());

  test('pending, paused and spend come from status and approvals.pending', async () => {
    const call = (m: string, p: Record<string, unknown>) => callDaemon(control.home, m, p);
    let s = await readTrayState(call);
    assert.equal(s.online, true);
    assert.deepEqual(s.pending.map((p) => p.summary), ['first', 'second']);
    assert.deepEqual(s.spendToday, { spentUsd: 4.2, capUsd: 5 });
    assert.equal(s.budgetLow, true);
    assert.equal(s.paused, false);
    // The Pause entry's click, made for real, flips what the next read shows.
    const effect = onClick(itemsByKey(trayMenu(s).items).get('pause')!);
    assert.ok(effect?.kind === 'control');
    await call(effect.method, effect.params);
    s = await readTrayState(call);
    assert.equal(s.paused, true);
    assert.equal(trayMenu(s).items.find((i) => i.key === 'pause')!.title, 'Resume');
  });

  test('a status without paused/spend: the local facts fill them in', async () => {
    const call = async (m: string, p: Record<string, unknown>) => {
      const r = await callDaemon(control.home, m, p);
      return m === 'status' ? { pid: 1 } : r;
    };
    const s = await readTrayState(call, () => ({ paused: true, spendToday: { spentUsd: 1, capUsd: null }, budgetLow: false }));
    assert.equal(s.paused, true);
    assert.deepEqual(s.spendToday, { spentUsd: 1, capUsd: null });
  });

  test('kairos tray reads paused and spend from the store when status lacks them', () => {
    const facts = localTrayFacts(control.home);
    assert.equal(facts.paused, isPaused(control.db));
    assert.equal(facts.spendToday!.spentUsd, 0);
    assert.equal(facts.budgetLow, false);
    assert.deepEqual(localTrayFacts(path.join(control.home, 'no-store-here')), {});
  });

  test('no daemon: offline, with the reason', async () => {
    const s = await readTrayState((m, p) => callDaemon(path.join(control.home, 'nowhere'), m, p));
    assert.equal(s.online, false);
    assert.match(s.error!, /no Kairos daemon is running/);
  });
});

// ---------------------------------------------------------------------------------------------
// The real tray under Xvfb

function missingTools(): string | null {
  const need: [string, string[], string][] = [
    ['Xvfb', ['-help'], 'xvfb'],
    ['trayer', ['--help'], 'trayer'],
    ['xdotool', ['version'], 'xdotool'],
    ['xwininfo', ['-version'], 'x11-utils'],
    ['import', ['-version'], 'imagemagick'],
    ['dbus-daemon', ['--version'], 'dbus'],
  ];
  const missing = need.filter(([cmd, args]) => spawnSync(cmd, args, { stdio: 'ignore' }).error).map(([cmd, , pkg]) => `${cmd} (${pkg})`);
  if (process.platform !== 'linux') return 'the display test runs on Linux only';
  const libs = spawnSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '';
  if (!libs.includes('libgtk-3.so.0')) missing.push('GTK 3 (libgtk-3-0)');
  if (!/libappindicator3\.so\.1|libayatana-appindicator3\.so\.1/.test(libs)) missing.push('an app indicator library (libayatana-appindicator3-1)');
  return missing.length ? `needs ${missing.join(', ')}; .ci/run installs them` : null;
}

async function until<T>(fn: () => T | null | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** The RGB pixels of a binary PPM (P6, maxval 255), as `import ... ppm:-` writes it. */
function ppmPixels(buf: Buffer): [number, number, number][] {
  const header = /^P6\s+(\d+)\s+(\d+)\s+(255)\s/.exec(buf.subarray(0, 64).toString('latin1'));
  if (!header) throw new Error('not a PPM image');
  const data = buf.subarray(header[0].length);
  const out: [number, number, number][] = [];
  for (let i = 0; i + 2 < data.length; i += 3) out.push([data[i]!, data[i + 1]!, data[i + 2]!]);
  return out;
}


const displaySkip = missingTools();

describe('kairos tray under Xvfb with a real tray host (trayer)', { skip: displaySkip ?? false }, () => {
  let control: ApprovalControl;
  let session: DbusSession;
  let xvfb: { display: string; proc: ChildProcess };
  let trayer: ChildProcess;
  let tray: ChildProcess;
  let trayOut = '';
  let env: NodeJS.ProcessEnv;
  let ids: string[] = [];
  const outDir = path.join(REPO_ROOT, 'test-output');

  const x = (cmd: string, args: string[]): string => {
    const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  /** The absolute position of the tray icon's window, embedded in trayer. */
  const iconAt = (): { x: number; y: number } | null => {
    const line = x('xwininfo', ['-root', '-tree']).split('\n').find((l) => l.includes('("systray" "systray")'));
    const m = line && /(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)/.exec(line);
    return m ? { x: Number(m[3]) + Math.floor(Number(m[1]) / 2), y: Number(m[4]) + Math.floor(Number(m[2]) / 2) } : null;
  };
  /** The tray's menu is mapped (a window of the tray binary bigger than its 10x10 placeholder). */
  const menuOpen = (): boolean =>
    x('xwininfo', ['-root', '-tree']).split('\n').some((l) => /"tray_linux_release": \("tray_linux_release"/.test(l) && /\b\d{2,}x\d{2,}\+\d+\+\d+/.test(l) && !l.includes('10x10'));
  /**
   * Clicks the icon until its menu is open: a click that lands before GTK has realised a (re)started
   * icon is lost, and one more click on an open menu would close it, so each click waits for the menu
   * (the event that proves it took) before the next is tried.
   */
  const clickUntilMenuOpen = async (at: { x: number; y: number }, timeoutMs = 15_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      x('xdotool', ['mousemove', String(at.x), String(at.y), 'click', '1']);
      const clickDeadline = Math.min(deadline, Date.now() + 2500);
      while (Date.now() < clickDeadline) {
        if (menuOpen()) return;
        await new Promise((r) => setTimeout(r, 150));
      }
    }
    throw new Error('timed out waiting for the menu to open');
  };


  before(async () => {
    control = await startApprovalControl((queue) => ({
      status: () => ({ pid: 1, paused: isPaused(queue.db), spend: { day: { spent_usd: 0.42, cap_usd: 5, left_usd: 4.58 } } }),
    }));
    ids = [control.enqueue('Fix the flaky date test in src/date.ts').approval.id, control.enqueue('Update the README install steps').approval.id];
    session = await startDbusSession();
    xvfb = await startXvfb();
    // NO_AT_BRIDGE: GTK would otherwise start an accessibility bus of its own for each client.
    env = { ...process.env, DISPLAY: xvfb.display, DBUS_SESSION_BUS_ADDRESS: session.address, NO_AT_BRIDGE: '1', KAIROS_HOME: control.home };
    delete env.WAYLAND_DISPLAY;
    trayer = spawn('trayer', ['--edge', 'top', '--align', 'right', '--widthtype', 'pixel', '--width', '160', '--height', '32', '--transparent', 'false', '--tint', '0xdddddd', '--SetDockType', 'true'], { env, stdio: 'ignore' });
    await until(() => x('xwininfo', ['-root', '-tree']).includes('"panel"'), 'trayer panel');
    try {
      trayEnvironment(control.home, env);
    } catch (e) {
      throw new Error(`the tray cannot run here: ${(e as Error).message}`);
    }
    tray = spawn(process.execPath, [...nodeArgsFor(import.meta.url, './tray-cli-entry.ts'), '--home', control.home, 'tray', '--refresh', '0.5'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    tray.stdout!.on('data', (d) => (trayOut += d));
    tray.stderr!.on('data', (d) => (trayOut += d));
    fs.mkdirSync(outDir, { recursive: true });
  });

  after(async () => {
    await stopProc(tray);
    await stopProc(trayer);
    await stopProc(xvfb?.proc);
    await session?.stop();
    await control?.close();
  });

  // One scenario in steps, not tests that lean on each other: the approve step leaves one pending,
  // which the deny step then denies, and the last step stops the tray the others use.
  test('the icon, a real click to approve, deny on what is left, a clean stop', async (t) => {
    await t.test('the icon appears in the tray host; screenshot with 2 pending', async () => {
      // Placed: trayer maps the icon's window first and moves it into the panel after (seen at x ≤ 0 under load).
      const placed = (): { x: number; y: number } | null => { const a = iconAt(); return a && a.x > 0 ? a : null; };
      const at = await until(() => (tray.exitCode === null ? placed() : (() => { throw new Error(`kairos tray exited ${tray.exitCode}: ${trayOut}`); })()), 'the tray icon placed in trayer');
      assert.ok(at.x > 0);
      // The icon as the screen shows it: the "pending" blue disc must be there, at the icon's place
      // (polled: the window is mapped before GTK has painted it).
      const iconPixels = (): [number, number, number][] =>
        ppmPixels(spawnSync('import', ['-window', 'root', '-crop', `24x24+${at.x - 12}+${at.y - 12}`, '-depth', '8', 'ppm:-'], { env, timeout: 10_000 }).stdout);
      const isPendingBlue = ([r, g, b]: [number, number, number]): boolean => Math.abs(r - 0x2f) < 8 && Math.abs(g - 0x6f) < 8 && Math.abs(b - 0xdf) < 8;
      const pixels = await until(() => { const p = iconPixels(); return p.some(isPendingBlue) && p; }, 'the pending-blue icon painted', 10_000).catch(() => iconPixels());
      x('import', ['-window', 'root', path.join(outDir, 'tray.png')]);
      assert.ok(pixels.some(isPendingBlue), 'no pending-blue pixel at the icon');
      assert.ok(pixels.some(([r, g, b]) => r > 245 && g > 245 && b > 245), 'no white count digit in the icon');
    });

    await t.test('a real click on the menu: icon → first pending → Approve reaches the daemon as a tray approval', async () => {
      const at = (await until(() => iconAt(), 'the tray icon'))!;
      await clickUntilMenuOpen(at);
      await new Promise((r) => setTimeout(r, 300));
      x('import', ['-window', 'root', path.join(outDir, 'tray-menu.png')]);
      // Keyboard in the open menu: Down lands on the first enabled entry (the first pending approval),
      // Right opens its submenu on Approve, Return clicks it — GTK emits the click the binary reports.
      x('xdotool', ['key', 'Down']);
      await new Promise((r) => setTimeout(r, 200));
      x('xdotool', ['key', 'Right']);
      await new Promise((r) => setTimeout(r, 300));
      x('xdotool', ['key', 'Return']);
      const [call] = await control.waitForCalls('approvals.approve', 1);
      assert.deepEqual(call!.params, { id: ids[0], channel: 'tray' });
      assert.equal(call!.ok, true);
      assert.deepEqual(control.applied, [ids[0]]);
      assert.equal(control.queue.get(ids[0]!)!.decidedBy, 'tray');
    });

    await t.test('after the approval the tray shows one pending; Deny on it reaches the daemon', async () => {
      const before = control.calls.filter((c) => c.method === 'approvals.pending').length;
      await control.waitForCalls('approvals.pending', before + 2); // refreshed since (it restarts with the smaller menu)
      const at = await until(() => iconAt(), 'the tray icon after the restart');
      await clickUntilMenuOpen(at); // the restarted icon takes clicks once GTK has realised it
      for (const key of ['Down', 'Right', 'Down', 'Return']) {
        x('xdotool', ['key', key]);
        await new Promise((r) => setTimeout(r, 250));
      }
      const [call] = await control.waitForCalls('approvals.deny', 1);
      assert.deepEqual(call!.params, { id: ids[1], channel: 'tray' });
      assert.equal(control.queue.get(ids[1]!)!.state, 'denied');
      assert.deepEqual(control.applied, [ids[0]]);
    });

    await t.test('kairos tray stops cleanly on SIGTERM and takes its tray binary with it', async () => {
      tray.kill('SIGTERM');
      const code = await new Promise<number | null>((r) => (tray.exitCode !== null ? r(tray.exitCode) : tray.once('exit', (c) => r(c))));
      assert.equal(code, 0, trayOut);
      await until(() => !iconAt(), 'the icon to leave the tray', 5000);
    });
  });
});
