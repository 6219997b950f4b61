import type { Command } from 'commander';

/** `kairos mcp`: see src/cli/mcp-server.ts. */
export function registerMcpCommand(program: Command, deps: { home(): string }): void {
  program
    .command('mcp')
    .description(
      'serve Kairos to an MCP client over stdio: status, events, tasks, pending approvals, spend and poke (no approve tool: approving stays with you)',
    )
    .addHelpText(
      'after',
      `
Add it to an MCP client, e.g. Claude Code:
  claude mcp add kairos -- kairos mcp
The read-only tools work with the daemon down; kairos_status and kairos_poke need it running.`,
    )
    .action(async () => {
      // The MCP server SDK is loaded only by this command.
      const { serveKairosMcp } = await import('./mcp-server.js');
      await serveKairosMcp({ home: deps.home() });
    });
}
