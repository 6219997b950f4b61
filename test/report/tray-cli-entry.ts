// `kairos tray` exactly as src/cli/main.ts registers it, as a process of its own for the tray test
// (the test must not depend on main.ts wiring it up). Usage: node tray-cli-entry.js --home DIR tray [--refresh S]
import { Command } from 'commander';
import { registerTrayCommand } from '../../src/cli/tray-command.js';

const program = new Command();
program.name('kairos').option('--home <dir>');
registerTrayCommand(program, { home: () => program.opts<{ home: string }>().home });
await program.parseAsync(process.argv);
