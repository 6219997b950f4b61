// `kairos service` exactly as src/cli/main.ts registers it, as a process of its own for the service test
// (the test must not depend on main.ts wiring it up). Usage: node service-cli-entry.js --home DIR service ...
import { Command } from 'commander';
import { resolveHome } from '../../src/cli/context.js';
import { registerServiceCommand } from '../../src/cli/service-command.js';

const program = new Command();
program.name('kairos').option('--home <dir>');
registerServiceCommand(program, { home: () => resolveHome(program.opts<{ home?: string }>().home) });
await program.parseAsync(process.argv);
