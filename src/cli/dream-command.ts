import fs from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { askDaemon, DaemonNotRunningError } from './control-client.js';
import { repoOrCwd, resolveRepo } from './context.js';
import { printJson } from './output.js';
import { memoryPath } from '../pipeline/memory.js';
import { visibleControls } from './diff-view.js';
import { errnoCode } from '../core/errors.js';

/**
 * `kairos dream` and `kairos memory`.
 *
 * The dream runs in the daemon, never in this process: the daemon holds each repository's
 * effective policy (user policy, trusted repository policy, plugins), the spend ledger's caps and
 * the dream lock, so an on-demand dream is charged, capped and serialised exactly like the nightly
 * one. Rebuilding all that here would be a second copy of the daemon's policy resolution that
 * could drift from it; with the daemon down the command says so and how to start it.
 */

/** A dream can wait for a model call with retries; well past the client's own limits. */
const DREAM_TIMEOUT_MS = 15 * 60_000;

const DreamResultJson = z.looseObject({
  repo: z.string(),
  status: z.enum(['done', 'skipped', 'failed']),
  reason: z.string().optional(),
  file: z.string().optional(),
  lines: z.number().optional(),
  truncated: z.boolean().optional(),
  costMicro: z.number().optional(),
});
type DreamResultJson = z.infer<typeof DreamResultJson>;
const DreamAnswer = z.looseObject({ results: z.array(DreamResultJson) });

export interface DreamCommandDeps {
  home(): string;
  setExitCode(code: number): void;
}

function describe(r: DreamResultJson): string {
  if (r.status === 'done') {
    const cost = r.costMicro !== undefined ? `, $${(r.costMicro / 1e6).toFixed(4)}` : '';
    return `kairos: dreamt ${r.repo}: memory rewritten (${r.lines} lines${r.truncated ? ', cut to the cap' : ''}${cost})\n  ${r.file}\n`;
  }
  return `kairos: no dream for ${r.repo} (${r.status}): ${r.reason}\n`;
}

export function registerDreamCommand(program: Command, deps: DreamCommandDeps): void {
  program
    .command('dream')
    .description("rewrite a repository's MEMORY.md from its recent daily logs now (the nightly dream, on demand; needs the running daemon)")
    .option('-r, --repo <dir>', 'only this watched repository (default: every watched repository)')
    .option('--json', 'print a JSON array of {repo, status, reason?, file?, lines?, costMicro?}')
    .action(async (o: { repo?: string; json?: boolean }) => {
      const home = deps.home();
      let results: DreamResultJson[];
      try {
        const answer = await askDaemon(home, 'dream', o.repo ? { repo: resolveRepo(o.repo) } : {}, DreamAnswer, DREAM_TIMEOUT_MS);
        results = answer.results;
      } catch (e) {
        if (!(e instanceof DaemonNotRunningError)) throw e;
        process.stderr.write(
          `kairos: the dream runs in the daemon (it holds the spend caps, each repository's trusted policy and the dream lock), and no daemon is running for ${home}.\n` +
            `Start it with 'kairos start --repo DIR', then run 'kairos dream' again.\n`,
        );
        deps.setExitCode(3);
        return;
      }
      if (o.json) printJson(results);
      else if (results.length === 0) process.stdout.write('kairos: no watched repository to dream for\n');
      else for (const r of results) process.stdout.write(describe(r));
      // Only a rewritten memory is success: a skip (model steps off, nothing new) is reported as such.
      deps.setExitCode(results.length > 0 && results.every((r) => r.status === 'done') ? 0 : 1);
    });

  program
    .command('memory')
    .description("print a repository's MEMORY.md, the notes the dream keeps and triage and agent tasks read (works without the daemon)")
    .option('-r, --repo <dir>', 'the repository (default: the current one)')
    .option('--path', 'print only where the file is')
    .action((o: { repo?: string; path?: boolean }) => {
      const repo = repoOrCwd(o.repo);
      const file = memoryPath(deps.home(), repo);
      if (o.path) {
        process.stdout.write(`${file}\n`);
        return;
      }
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (e) {
        if (errnoCode(e) !== 'ENOENT') throw e;
        process.stderr.write(`kairos: no memory yet for ${repo}; the first dream writes it to ${file} ('kairos dream --repo ${repo}' runs one now)\n`);
        deps.setExitCode(1);
        return;
      }
      // A model wrote it from logs of repository output: nothing in it may drive the terminal.
      process.stdout.write(visibleControls(text));
    });
}
