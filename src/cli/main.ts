#!/usr/bin/env node
// The CLI's commands. The process entry is bin/kairos.ts, which loads this module. The shebang stays:
// this file was the bin before, and an npx cache made then still links it (every command but `run` works).
import { Command, InvalidArgumentError } from 'commander';
import { repoOrCwd, resolveHome, resolveRepo, UsageError } from './context.js';
import { printStatus, runForeground, startBackground, stopDaemon } from './lifecycle.js';
import { listEvents, listTasks } from './listings.js';
import { showLogs } from './logs.js';
import { askDaemon } from './control-client.js';
import { PokeAnswer } from './protocol.js';
import { parseLimit, printJson } from './output.js';
import { showSpend } from './spend-command.js';
import { applyCommand, undoCommand } from './proposal-commands.js';
import { registerMcpCommand } from './mcp-command.js';
import { registerApprovalCommands } from './approval-commands.js';
import { registerTrayCommand } from './tray-command.js';
import { registerServiceCommand } from './service-command.js';
import { registerAuditCommand } from './audit-command.js';
import { registerDreamCommand } from './dream-command.js';
import { EventType } from '../events/event.js';
import { registerKnownSecrets, secretsFromEnv } from '../policy/filter.js';
import { exitQuietlyWhenOutputCloses } from './closed-pipe.js';
import { kairosVersion } from './version.js';
import { describeForUser, exitCodeOf, ExitCode, messageOf } from '../core/errors.js';

exitQuietlyWhenOutputCloses();

const program = new Command();
// Commander's own usage errors (unknown option, missing argument, a bad --limit) exit like a UsageError does:
// 2, so a script can tell "my command line is wrong" from "it ran and failed". Help and --version stay 0.
// Set before any command is added: subcommands inherit it when they are created.
program.exitOverride((err) => process.exit(err.exitCode === 0 ? ExitCode.ok : ExitCode.userInput));
const collect = (v: string, prev: string[]): string[] => [...prev, v];
const limit = (v: string): number => {
  try {
    return parseLimit(v);
  } catch (e) {
    throw new InvalidArgumentError(messageOf(e));
  }
};
const home = (): string => resolveHome(program.opts<{ home?: string }>().home);
const ctx = () => ({ home: home(), env: process.env });
let exitCode = 0;
// Modules only some commands need are loaded by those commands: the shell grammar (WebAssembly),
// the doctor's probes, the plugin loader, the MCP server. `kairos status` then starts in a fraction
// of the time, and `kairos run` (the daemon) does not carry what it never uses.
const policyCommands = () => import('./policy-commands.js');

program
  .name('kairos')
  .description(
    'An ambient coding daemon: watches your repositories and git, runs the triggers in your policy when changes settle,\n' +
      'and reports through notifications and a daily log. Nothing changes your working tree without your approval.',
  )
  .version(kairosVersion(), '-V, --version', "print Kairos's version")
  .option('--home <dir>', 'state folder (store, socket, logs, policy); default $KAIROS_HOME or ~/.kairos')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Examples:
  kairos start --repo ~/src/app        start the daemon in the background, watching one repository
  kairos start --repo ~/src/lib        add a second repository to the running daemon
  kairos status                        what is watched, trust, triggers, model steps
  kairos tasks                         what ran and how it went (add --json for scripts)
  kairos logs -f                       follow today's log
  kairos policy check                  validate $KAIROS_HOME/policy.yaml and this repository's .kairos/policy.yaml

Policy: $KAIROS_HOME/policy.yaml (see policies/default.yaml for the shipped default and examples).

Exit codes: 0 ok; 1 failed; 2 bad input (arguments, policy, config, a file given); 3 the daemon is not
running (for \`kairos run\`: another daemon holds the lock). KAIROS_DEBUG=1 prints every error's stack.`,
  );

program
  .command('start')
  .description('start the daemon in the background (or add repositories to the running one) and return once it is ready')
  .option('-r, --repo <dir>', 'repository to watch (repeatable); default: the repositories watched before, or the current one', collect, [])
  .action(async (o: { repo: string[] }) => {
    exitCode = await startBackground(ctx(), o.repo.map(resolveRepo));
  });

program
  .command('run')
  .description('run the daemon in the foreground (for systemd, launchd and debugging); Ctrl-C or SIGTERM stops it, SIGHUP reloads the policy')
  .option('-r, --repo <dir>', 'repository to watch (repeatable); default: the repositories watched before', collect, [])
  .action(async (o: { repo: string[] }) => {
    exitCode = await runForeground(ctx(), o.repo.map(resolveRepo));
  });

program
  .command('stop')
  .description('stop the daemon cleanly (running tasks get 3 s, then are recorded as interrupted)')
  .action(async () => {
    exitCode = await stopDaemon(ctx());
  });

program
  .command('status')
  .description('show whether the daemon runs, what it watches, and its triggers')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) => {
    exitCode = await printStatus(ctx(), !!o.json);
  });

program
  .command('poke')
  .description('send a manual event: fires triggers with `on: {manual: true}` (or the one named with --trigger)')
  .option('-r, --repo <dir>', 'repository (default: every watched repository)')
  .option('-n, --note <text>', 'a note stored with the event')
  .option('-t, --trigger <name>', 'fire only this trigger')
  .action(async (o: { repo?: string; note?: string; trigger?: string }) => {
    const r = await askDaemon(home(), 'poke', {
      repo: o.repo ? resolveRepo(o.repo) : undefined,
      note: o.note,
      trigger: o.trigger,
    }, PokeAnswer);
    process.stdout.write(`kairos: poked (event ${r.events.join(', ')})\n`);
  });

program
  .command('events')
  .description('list stored events, newest first')
  .option('--json', 'print a JSON array of {id, type, repo, at, path?, origin, data}')
  .option('-r, --repo <dir>', 'only this repository')
  .option('-l, --limit <n>', 'at most this many', limit, 100)
  .option('--type <type>', `only this event type (repeatable): ${EventType.options.join(', ')}`, collect, [])
  .action((o: { json?: boolean; repo?: string; limit: number; type: string[] }) => {
    for (const t of o.type) if (!EventType.safeParse(t).success) throw new UsageError(`--type ${t}: expected one of ${EventType.options.join(', ')}`);
    listEvents(home(), { json: !!o.json, limit: o.limit, ...(o.repo ? { repo: resolveRepo(o.repo) } : {}), ...(o.type.length ? { type: o.type } : {}) });
  });

program
  .command('tasks')
  .description('list tasks (fired triggers) with their state and bounded output, newest first')
  .option('--json', 'print a JSON array of {id, trigger, state, exit_code, output, ...}')
  .option('-r, --repo <dir>', 'only this repository')
  .option('-s, --state <state>', 'only tasks in this state (queued, running, done, failed, interrupted, ...)')
  .option('-l, --limit <n>', 'at most this many', limit, 50)
  .action((o: { json?: boolean; repo?: string; limit: number; state?: string }) => {
    listTasks(home(), { json: !!o.json, limit: o.limit, ...(o.repo ? { repo: resolveRepo(o.repo) } : {}), ...(o.state ? { state: o.state } : {}) });
  });

program
  .command('apply <id>')
  .description("apply a proposal to your working tree: exactly the diff whose sha256 you pass (ID and hash as 'kairos show ID' prints them)")
  .requiredOption('--hash <sha256>', 'the hash of the diff you reviewed; a different diff is refused')
  .action(async (id: string, o: { hash: string }) => {
    exitCode = await applyCommand(home(), id, o.hash);
  });

program
  .command('undo <id>')
  .description('restore the files an applied proposal changed, byte for byte (ID: the id shown for it, or an unambiguous prefix)')
  .option('--force', 'restore even files you changed after the apply')
  .action(async (id: string, o: { force?: boolean }) => {
    exitCode = await undoCommand(home(), id, !!o.force);
  });

program
  .command('spend')
  .description('model spend per hour/day/month window against the budget caps, per model and trigger, and the prompt-cache share')
  .option('--json', 'print {task?, hour?, day?, month?: {spent_usd, reserved_usd, cap_usd}, by_model, by_trigger, cache_read_share}')
  .action((o: { json?: boolean }) => {
    exitCode = showSpend(home(), !!o.json);
  });

program
  .command('logs')
  .description("print today's daily log ($KAIROS_HOME/logs/YYYY/MM/YYYY-MM-DD.md)")
  .option('-f, --follow', 'keep printing new entries')
  .option('-d, --date <YYYY-MM-DD>', 'another day')
  .action(async (o: { follow?: boolean; date?: string }) => {
    exitCode = await showLogs(home(), { follow: !!o.follow, ...(o.date ? { date: o.date } : {}) });
  });

const policy = program.command('policy').description('check and explain policy files');
policy
  .command('check [file]')
  .description('validate a policy file; without FILE, the user policy and the current repository policy')
  .action(async (file: string | undefined) => {
    exitCode = (await policyCommands()).checkPolicy(home(), file);
  });

policy
  .command('explain [call]')
  .description('which layer and which rule decide a tool call, and why, e.g. "Bash(npm test && curl x | sh)", "Edit(src/a.ts)", "Read(.env)"; with --sandbox, what a sandboxed command can see')
  .option('-r, --repo <dir>', 'the repository (default: the current one)')
  .option('--sandbox', "print the sandbox's mount table, environment allow-list and limits")
  .option('--json', 'print JSON')
  .action(async (call: string | undefined, o: { repo?: string; json?: boolean; sandbox?: boolean }) => {
    const { explainCommand, explainSandboxCommand } = await policyCommands();
    if (o.sandbox) exitCode = explainSandboxCommand(home(), repoOrCwd(o.repo), !!o.json);
    else if (call) exitCode = await explainCommand(home(), call, repoOrCwd(o.repo), !!o.json);
    else throw new UsageError('name a tool call to explain, e.g. kairos policy explain "Bash(npm test)", or use --sandbox');
  });

policy
  .command('import-claude [file]')
  .description('print the permissions of a Claude Code settings file as a Kairos policy block (default: .claude/settings.json)')
  .action(async (file: string | undefined) => {
    exitCode = (await policyCommands()).importClaudeCommand(file ?? '.claude/settings.json');
  });

program
  .command('trust [dir]')
  .description("trust a repository's own .kairos/policy.yaml so it may add commands, or (--plugin) a plugin's own allow rules; pinned by hash, so a later change needs trust again")
  .option('--plugin <name>', 'trust the plugin of this name (or folder) in $KAIROS_HOME/plugins instead of a repository')
  .option('--revoke', 'withdraw trust')
  .action(async (dir: string | undefined, o: { revoke?: boolean; plugin?: string }) => {
    const { resolveTrustTarget, trustPluginCommand } = await import('./plugin-trust-command.js');
    if (o.plugin !== undefined) {
      if (dir !== undefined) throw new UsageError(`trust: name either a repository or --plugin ${o.plugin}, not both`);
      exitCode = await trustPluginCommand(home(), o.plugin, !!o.revoke);
      return;
    }
    if (dir === undefined) throw new UsageError('trust: name a repository (kairos trust ~/src/app) or a plugin (kairos trust --plugin NAME)');
    exitCode = await (await policyCommands()).trustCommand(home(), resolveTrustTarget(dir), !!o.revoke);
  });

program
  .command('doctor')
  .description('check this machine: node, SQLite, git, inotify limits, notifications, speech, sandbox, API key')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) => {
    const { formatDoctor, runDoctor } = await import('./doctor.js');
    const checks = await runDoctor({ home: home(), env: process.env });
    if (o.json) printJson(checks);
    else process.stdout.write(formatDoctor(checks) + '\n');
    exitCode = checks.some((c) => c.status === 'fail') ? 1 : 0;
  });

registerApprovalCommands(program, { home });
registerMcpCommand(program, { home });
registerTrayCommand(program, { home });
registerServiceCommand(program, { home });
registerAuditCommand(program, { home, setExitCode: (c) => (exitCode = c) });
registerDreamCommand(program, { home, setExitCode: (c) => (exitCode = c) });

// What the CLI prints (listings, MCP answers) never shows this process's own secret env values.
registerKnownSecrets(secretsFromEnv(process.env));

try {
  await program.parseAsync(process.argv);
  // Commands registered from other modules (tray, service) set process.exitCode themselves: keep theirs.
  process.exitCode = exitCode || process.exitCode || 0;
} catch (e) {
  // A KairosError (UsageError, PolicyError, ...) and a system error (EACCES, ...) carry a message meant for the
  // user; JavaScript's own error types and InternalError mean a bug and keep their stack (every error does with
  // KAIROS_DEBUG). The exit code is the error's own (see ExitCode in src/core/errors.ts), 1 for the rest.
  process.stderr.write(`kairos: ${describeForUser(e, !!process.env.KAIROS_DEBUG)}\n`);
  process.exitCode = exitCodeOf(e);
}
