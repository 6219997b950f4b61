import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { installService, managerCommands, ServiceError, serviceFile, serviceStatus, shellLine, uninstallService, type ServiceOutcome, type ServiceSpec } from './service.js';
import { printJson } from './output.js';
import { assertStableInstall, ensureEnvFile, serviceEnvFile, servicePath, type DroppedDir } from './service-env.js';
import { isAbsent } from '../core/errors.js';
import { packagePath } from '../core/package-root.js';
import { DAEMON_NODE_ARGS } from './daemon-node-args.js';

/** `kairos service install | uninstall | status [--dry-run]`. */

export interface ServiceCommandDeps {
  home(): string;
}

/**
 * The CLI entry the service runs: the package's bin, dist/bin/kairos.js, which runs the bundle
 * (dist/bundle/kairos.js, scripts/bundle.mjs) when the build made one. Run from source (tsx) without
 * a build, it falls back to bin/kairos.ts under tsx's loader, for development only.
 */
export function cliEntry(): { cli: string; nodeArgs: string[] } {
  const built = packagePath('dist', 'bin', 'kairos.js');
  if (fs.existsSync(built)) return { cli: built, nodeArgs: [...DAEMON_NODE_ARGS] };
  return { cli: packagePath('bin', 'kairos.ts'), nodeArgs: [...DAEMON_NODE_ARGS, '--import', fileURLToPath(import.meta.resolve('tsx'))] };
}

export interface CurrentService {
  spec: ServiceSpec;
  /** PATH entries of this shell the service does not get, with why. */
  dropped: DroppedDir[];
  /** Said before installing: the install works but may not last. */
  warning: string | null;
}

/**
 * The service as this kairos would install it: this node (symlinks resolved) and this CLI, which
 * must be a lasting install (not npx's cache), a PATH of stable folders only, and the env file.
 */
export function currentServiceSpec(kairosHome: string, o: { forInstall: boolean }, env: NodeJS.ProcessEnv = process.env): CurrentService {
  const { cli, nodeArgs } = cliEntry();
  const uid = process.getuid?.() ?? 0;
  const node = fs.realpathSync(process.execPath);
  const p = servicePath({ currentPath: env.PATH, node, platform: process.platform, uid });
  // Only installing needs a lasting kairos and node: status and uninstall work from anywhere (npx too).
  if (o.forInstall && p.nodeProblem) throw new ServiceError(p.nodeProblem);
  const warning = o.forInstall ? assertStableInstall(cli, { uid }) : null;
  return {
    warning,
    spec: {
      platform: process.platform,
      userHome: env.HOME || os.homedir(),
      kairosHome,
      node,
      nodeArgs,
      cli,
      pathEnv: p.value,
      envFile: serviceEnvFile(kairosHome),
      uid,
    },
    dropped: p.dropped,
  };
}

function reportDropped(dropped: DroppedDir[]): void {
  if (!dropped.length) return;
  process.stderr.write(`left off the service's PATH:\n${dropped.map((d) => `  ${d.dir || '(empty)'}: ${d.why}`).join('\n')}\n`);
}

function report(o: ServiceOutcome, done: string): number {
  for (const r of o.ran) {
    if (r.code !== 0) process.stderr.write(`kairos: ${shellLine(r.argv)} failed (exit ${r.code ?? 'none: it did not finish'}):\n${r.output || '(no output)'}\n`);
  }
  if (o.todo.length) {
    const why = o.ok ? `${o.todo[0]![0]} is not installed here` : 'the step above failed';
    process.stdout.write(`${done}; ${why}, so run these yourself:\n${o.todo.map((c) => `  ${shellLine(c)}`).join('\n')}\n`);
  } else {
    process.stdout.write(`${done}\n`);
  }
  return o.ok ? 0 : 1;
}

export function registerServiceCommand(program: Command, deps: ServiceCommandDeps): void {
  const service = program.command('service').description('run the daemon as a login service: a systemd user unit (Linux) or a launchd agent (macOS)');

  service
    .command('install')
    .description('write the service file (runs `kairos run`, restarts on failure, starts at login) and enable + start it')
    .option('--dry-run', 'print the file and the commands; change nothing')
    .action((o: { dryRun?: boolean }) => {
      const { spec, dropped, warning } = currentServiceSpec(deps.home(), { forInstall: true });
      const file = serviceFile(spec);
      if (warning) process.stderr.write(`kairos: warning: ${warning}\n`);
      reportDropped(dropped);
      if (o.dryRun) {
        process.stdout.write(file.content);
        const cmds = managerCommands(file.kind, file.path, spec.uid ?? 0).install;
        process.stderr.write(`(dry run) would write ${file.path}, create ${spec.envFile} (0600) if missing, and run:\n${cmds.map((c) => `  ${shellLine(c)}`).join('\n')}\n`);
        return;
      }
      const envNote = ensureEnvFile(spec.envFile!, spec.uid ?? 0);
      process.stdout.write(`kairos: ${envNote}\n`);
      process.exitCode = report(installService(spec), `wrote ${file.path}`);
    });

  service
    .command('uninstall')
    .description('stop and disable the service and remove its file')
    .option('--dry-run', 'print what would be removed and run; change nothing')
    .action((o: { dryRun?: boolean }) => {
      const { spec } = currentServiceSpec(deps.home(), { forInstall: false });
      const file = serviceFile(spec);
      if (o.dryRun) {
        const cmds = managerCommands(file.kind, file.path, spec.uid ?? 0).uninstall;
        process.stdout.write(`(dry run) would run and remove ${file.path}:\n${cmds.map((c) => `  ${shellLine(c)}`).join('\n')}\n`);
        return;
      }
      const r = uninstallService(spec);
      process.exitCode = report(r, r.removed ? `removed ${file.path}` : `no service file at ${file.path}; nothing to remove`);
    });

  service
    .command('status')
    .description('whether the service file is installed (and current), and what the service manager says')
    .option('--json', 'print JSON')
    .option('--dry-run', 'same as without: status changes nothing')
    .action((o: { json?: boolean }) => {
      const { spec } = currentServiceSpec(deps.home(), { forInstall: false });
      const s = serviceStatus(spec);
      if (o.json) {
        printJson({ kind: s.file.kind, path: s.file.path, installed: s.installed, stale: s.stale, manager: s.manager, env_file: envFileState(spec.envFile!) });
        return;
      }
      const env = envFileState(spec.envFile!);
      const lines = [
        `${s.file.kind} ${s.installed ? 'installed' : 'not installed'}: ${s.file.path}`,
        `env file: ${env.path} ${env.exists ? `(mode ${env.mode}${env.private ? '' : ': readable by others, run `chmod 600` on it'})` : '(missing: model steps are off under the service; `kairos service install` creates it)'}`,
        ...(s.stale ? ['the file differs from what `kairos service install` writes now (node or Kairos moved?); run it again to update'] : []),
        s.manager ? `${shellLine(s.manager.argv)} (exit ${s.manager.code}):\n${s.manager.output}` : `${s.file.kind === 'systemd' ? 'systemctl' : 'launchctl'} is not available here`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}

function envFileState(file: string): { path: string; exists: boolean; mode: string | null; private: boolean } {
  try {
    const st = fs.statSync(file);
    return { path: file, exists: true, mode: (st.mode & 0o777).toString(8).padStart(4, '0'), private: (st.mode & 0o077) === 0 };
  } catch (e) {
    // Only a missing file is "no env file": one that cannot be checked must not be reported as absent.
    if (!isAbsent(e)) throw e;
    return { path: file, exists: false, mode: null, private: true };
  }
}
