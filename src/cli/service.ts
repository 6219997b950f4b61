import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { KairosError } from '../core/errors.js';
import { DAEMON_ENV } from './daemon-node-args.js';

/**
 * `kairos service`: run the daemon (`kairos run`, the foreground mode) as a per-user service that
 * restarts on failure and starts at login — a systemd user unit on Linux, a launchd agent on macOS.
 * Generating the file is pure (serviceFile); installing writes it and asks the service manager.
 */

export const SYSTEMD_UNIT_NAME = 'kairos.service';
export const LAUNCHD_LABEL = 'dev.kairos.daemon';
export const RESTART_SEC = 5;

export type ServiceKind = 'systemd' | 'launchd';

export interface ServiceSpec {
  platform: NodeJS.Platform;
  /** The user's home (HOME): where ~/.config/systemd/user or ~/Library/LaunchAgents is. */
  userHome: string;
  /** $KAIROS_HOME the daemon will use. */
  kairosHome: string;
  /** Absolute node binary. */
  node: string;
  /** Node arguments before the script (e.g. a loader when running from source); usually none. */
  nodeArgs?: string[];
  /** Absolute path of the CLI entry (dist/bin/kairos.js). */
  cli: string;
  /** PATH for the daemon: triggers run the user's tools (git, npm, ...), which the service manager's own PATH may not have. */
  pathEnv?: string;
  /** A private KEY=value file (ANTHROPIC_API_KEY) the service loads: systemd EnvironmentFile=, node --env-file under launchd. */
  envFile?: string;
  uid?: number;
}

export interface ServiceFile {
  kind: ServiceKind;
  path: string;
  content: string;
}

export class ServiceError extends KairosError {
  override name = 'ServiceError';
}

export function serviceKind(platform: NodeJS.Platform): ServiceKind {
  if (platform === 'linux') return 'systemd';
  if (platform === 'darwin') return 'launchd';
  throw new ServiceError(`kairos service supports Linux (systemd) and macOS (launchd), not ${platform}; run \`kairos run\` from your own service manager`);
}

export function serviceFile(spec: ServiceSpec): ServiceFile {
  for (const [name, p] of [['node', spec.node], ['cli', spec.cli], ['KAIROS_HOME', spec.kairosHome], ['env file', spec.envFile ?? '/']] as const) {
    if (!path.isAbsolute(p)) throw new ServiceError(`the service needs an absolute ${name} path, not '${p}'`);
  }
  // A line break would end the unit's line and start another setting of the path's choosing.
  for (const [name, v] of [['node', spec.node], ['cli', spec.cli], ['KAIROS_HOME', spec.kairosHome], ['env file', spec.envFile ?? ''], ['PATH', spec.pathEnv ?? ''], ...(spec.nodeArgs ?? []).map((a) => ['node argument', a])] as const) {
    // oxlint-disable-next-line no-control-regex -- a control character is what this refuses
    if (/[\x00-\x1f\x7f]/.test(v)) throw new ServiceError(`the service's ${name} contains a control character (${JSON.stringify(v)}); use a path without line breaks or tabs`);
  }
  const kind = serviceKind(spec.platform);
  return kind === 'systemd'
    ? { kind, path: path.join(spec.userHome, '.config', 'systemd', 'user', SYSTEMD_UNIT_NAME), content: systemdUnit(spec) }
    : { kind, path: path.join(spec.userHome, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`), content: launchdPlist(spec) };
}

/**
 * One word of a systemd command line (`exec`) or an Environment= assignment: quoted when needed,
 * % doubled (specifiers expand everywhere), $ doubled only on a command line (variables expand only there).
 */
export function systemdWord(s: string, o: { exec: boolean } = { exec: true }): string {
  const pct = s.replace(/%/g, '%%');
  const escaped = o.exec ? pct.replace(/\$/g, '$$$$') : pct;
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped) && escaped !== '') return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function systemdUnit(spec: ServiceSpec): string {
  const exec = [spec.node, ...(spec.nodeArgs ?? []), spec.cli, 'run'].map((w) => systemdWord(w)).join(' ');
  const env = [`KAIROS_HOME=${spec.kairosHome}`, ...(spec.pathEnv ? [`PATH=${spec.pathEnv}`] : []), ...Object.entries(DAEMON_ENV).map(([k, v]) => `${k}=${v}`)];
  return [
    '# Written by `kairos service install`; `kairos service uninstall` removes it.',
    '[Unit]',
    'Description=Kairos ambient coding daemon',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec}`,
    'Restart=on-failure',
    `RestartSec=${RESTART_SEC}`,
    ...env.map((e) => `Environment=${systemdWord(e, { exec: false })}`),
    // '-': a missing file is no error (model steps are then off, and `kairos status` says why). No quoting here: % only.
    ...(spec.envFile ? [`EnvironmentFile=-${spec.envFile.replace(/%/g, '%%')}`] : []),
    // SIGTERM to the daemon only: it stops its own tasks (3 s grace, recorded as interrupted); the rest are killed after the timeout.
    'KillMode=mixed',
    'TimeoutStopSec=20',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function launchdPlist(spec: ServiceSpec): string {
  // launchd has no EnvironmentFile: node reads the file itself (install creates it, so it exists).
  const args = [spec.node, ...(spec.envFile ? [`--env-file=${spec.envFile}`] : []), ...(spec.nodeArgs ?? []), spec.cli, 'run'];
  const env: [string, string][] = [['KAIROS_HOME', spec.kairosHome], ...(spec.pathEnv ? ([['PATH', spec.pathEnv]] as [string, string][]) : []), ...Object.entries(DAEMON_ENV)];
  const logs = path.join(spec.kairosHome, 'logs');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    '  <key>Label</key>',
    `  <string>${LAUNCHD_LABEL}</string>`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...args.map((a) => `    <string>${xml(a)}</string>`),
    '  </array>',
    '  <key>EnvironmentVariables</key>',
    '  <dict>',
    ...env.flatMap(([k, v]) => [`    <key>${xml(k)}</key>`, `    <string>${xml(v)}</string>`]),
    '  </dict>',
    '  <key>RunAtLoad</key>',
    '  <true/>',
    // Restart when it fails, not after a clean `kairos stop` (the launchd form of Restart=on-failure).
    '  <key>KeepAlive</key>',
    '  <dict>',
    '    <key>SuccessfulExit</key>',
    '    <false/>',
    '  </dict>',
    '  <key>ThrottleInterval</key>',
    `  <integer>${RESTART_SEC}</integer>`,
    '  <key>ProcessType</key>',
    '  <string>Background</string>',
    '  <key>StandardOutPath</key>',
    `  <string>${xml(path.join(logs, 'launchd.out.log'))}</string>`,
    '  <key>StandardErrorPath</key>',
    `  <string>${xml(path.join(logs, 'launchd.err.log'))}</string>`,
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}

/** The service-manager commands for each step, as argv lists. */
export function managerCommands(kind: ServiceKind, file: string, uid: number): { install: string[][]; uninstall: string[][]; status: string[][] } {
  if (kind === 'systemd') {
    return {
      install: [
        ['systemctl', '--user', 'daemon-reload'],
        ['systemctl', '--user', 'enable', '--now', SYSTEMD_UNIT_NAME],
      ],
      uninstall: [
        ['systemctl', '--user', 'disable', '--now', SYSTEMD_UNIT_NAME],
        ['systemctl', '--user', 'daemon-reload'],
      ],
      status: [['systemctl', '--user', 'status', '--no-pager', SYSTEMD_UNIT_NAME]],
    };
  }
  return {
    install: [['launchctl', 'bootstrap', `gui/${uid}`, file]],
    uninstall: [['launchctl', 'bootout', `gui/${uid}/${LAUNCHD_LABEL}`]],
    status: [['launchctl', 'print', `gui/${uid}/${LAUNCHD_LABEL}`]],
  };
}

export function shellLine(argv: string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The program is not installed. */
  missing: boolean;
}

export type Runner = (argv: string[]) => RunResult;

export const runCommand: Runner = (argv) => {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? r.error.message : ''), missing };
};

export interface ServiceOutcome {
  file: ServiceFile;
  /** What was run, with its result; empty for a dry run or when the manager is missing. */
  ran: { argv: string[]; code: number | null; output: string }[];
  /** Commands the user must run themselves (manager missing, or a step failed). */
  todo: string[][];
  ok: boolean;
}

/** Writes the service file and enables + starts it (unless the manager is not installed: then says what to run). */
export function installService(spec: ServiceSpec, run: Runner = runCommand): ServiceOutcome {
  const file = serviceFile(spec);
  fs.mkdirSync(path.dirname(file.path), { recursive: true });
  fs.mkdirSync(path.join(spec.kairosHome, 'logs'), { recursive: true, mode: 0o700 });
  const tmp = `${file.path}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, file.content, { mode: 0o644 });
  fs.renameSync(tmp, file.path);
  const cmds = managerCommands(file.kind, file.path, spec.uid ?? process.getuid?.() ?? 0);
  // launchd refuses a bootstrap of a loaded label: unload a previous version first, ignoring "not loaded".
  if (file.kind === 'launchd') run(cmds.uninstall[0]!);
  return runSteps(file, cmds.install, run);
}

export function uninstallService(spec: ServiceSpec, run: Runner = runCommand): ServiceOutcome & { removed: boolean } {
  const file = serviceFile(spec);
  const exists = fs.existsSync(file.path);
  const cmds = managerCommands(file.kind, file.path, spec.uid ?? process.getuid?.() ?? 0);
  // Stop and disable first (while the unit file still exists), then remove it, then reload.
  const steps = file.kind === 'systemd' ? [cmds.uninstall[0]!] : cmds.uninstall;
  const first = exists ? runSteps(file, steps, run, { tolerateFailure: true }) : { file, ran: [], todo: [], ok: true };
  fs.rmSync(file.path, { force: true });
  const second = file.kind === 'systemd' && exists ? runSteps(file, [cmds.uninstall[1]!], run) : { file, ran: [], todo: [], ok: true };
  return { file, ran: [...first.ran, ...second.ran], todo: [...first.todo, ...second.todo], ok: first.ok && second.ok, removed: exists };
}

export interface ServiceStatus {
  file: ServiceFile;
  installed: boolean;
  /** The installed file differs from what install would write now (e.g. node moved). */
  stale: boolean;
  manager: { argv: string[]; code: number | null; output: string } | null;
}

export function serviceStatus(spec: ServiceSpec, run: Runner = runCommand): ServiceStatus {
  const file = serviceFile(spec);
  const installed = fs.existsSync(file.path);
  const stale = installed && fs.readFileSync(file.path, 'utf8') !== file.content;
  const argv = managerCommands(file.kind, file.path, spec.uid ?? process.getuid?.() ?? 0).status[0]!;
  const r = run(argv);
  return { file, installed, stale, manager: r.missing ? null : { argv, code: r.code, output: (r.stdout + r.stderr).trim() } };
}

function runSteps(file: ServiceFile, steps: string[][], run: Runner, o: { tolerateFailure?: boolean } = {}): ServiceOutcome {
  const ran: ServiceOutcome['ran'] = [];
  for (let i = 0; i < steps.length; i++) {
    const argv = steps[i]!;
    const r = run(argv);
    if (r.missing) return { file, ran, todo: steps.slice(i), ok: true };
    ran.push({ argv, code: r.code, output: (r.stdout + r.stderr).trim() });
    if (r.code !== 0 && !o.tolerateFailure) return { file, ran, todo: steps.slice(i), ok: false };
  }
  return { file, ran, todo: [], ok: true };
}
