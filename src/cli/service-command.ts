import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { installService, managerCommands, serviceFile, serviceStatus, shellLine, uninstallService, type ServiceOutcome, type ServiceSpec } from './service.js';
import { printJson } from './output.js';

/** `kairos service install | uninstall | status [--dry-run]`. */

export interface ServiceCommandDeps {
  home(): string;
}

/**
 * The CLI entry the service runs: the compiled dist/src/cli/main.js. Run from source (tsx) without a
 * build, it falls back to src/cli/main.ts under tsx's loader, which works but is for development only.
 */
export function cliEntry(): { cli: string; nodeArgs: string[] } {
  const here = fileURLToPath(import.meta.url);
  const sibling = path.join(path.dirname(here), 'main.js');
  if (here.endsWith('.js') && fs.existsSync(sibling)) return { cli: sibling, nodeArgs: [] };
  const root = path.resolve(path.dirname(here), '..', '..');
  const built = path.join(root, 'dist', 'src', 'cli', 'main.js');
  if (fs.existsSync(built)) return { cli: built, nodeArgs: [] };
  return { cli: path.join(path.dirname(here), 'main.ts'), nodeArgs: ['--import', fileURLToPath(import.meta.resolve('tsx'))] };
}

export function currentServiceSpec(kairosHome: string, env: NodeJS.ProcessEnv = process.env): ServiceSpec {
  const { cli, nodeArgs } = cliEntry();
  return {
    platform: process.platform,
    userHome: env.HOME || os.homedir(),
    kairosHome,
    node: process.execPath,
    nodeArgs,
    cli,
    ...(env.PATH ? { pathEnv: env.PATH } : {}),
    ...(process.getuid ? { uid: process.getuid() } : {}),
  };
}

function report(o: ServiceOutcome, done: string): number {
  for (const r of o.ran) {
    if (r.code !== 0) process.stderr.write(`${shellLine(r.argv)} failed (exit ${r.code}):\n${r.output}\n`);
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
      const spec = currentServiceSpec(deps.home());
      const file = serviceFile(spec);
      if (o.dryRun) {
        process.stdout.write(file.content);
        const cmds = managerCommands(file.kind, file.path, spec.uid ?? 0).install;
        process.stderr.write(`(dry run) would write ${file.path} and run:\n${cmds.map((c) => `  ${shellLine(c)}`).join('\n')}\n`);
        return;
      }
      process.exitCode = report(installService(spec), `wrote ${file.path}`);
    });

  service
    .command('uninstall')
    .description('stop and disable the service and remove its file')
    .option('--dry-run', 'print what would be removed and run; change nothing')
    .action((o: { dryRun?: boolean }) => {
      const spec = currentServiceSpec(deps.home());
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
      const s = serviceStatus(currentServiceSpec(deps.home()));
      if (o.json) {
        printJson({ kind: s.file.kind, path: s.file.path, installed: s.installed, stale: s.stale, manager: s.manager });
        return;
      }
      const lines = [
        `${s.file.kind} ${s.installed ? 'installed' : 'not installed'}: ${s.file.path}`,
        ...(s.stale ? ['the file differs from what `kairos service install` writes now (node or Kairos moved?); run it again to update'] : []),
        s.manager ? `${shellLine(s.manager.argv)} (exit ${s.manager.code}):\n${s.manager.output}` : `${s.file.kind === 'systemd' ? 'systemctl' : 'launchctl'} is not available here`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
