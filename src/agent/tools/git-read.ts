import { execFile } from 'node:child_process';
import { parse } from 'shell-quote';
import type { ToolInput } from './schemas.js';
import { ToolError } from './tool-error.js';

const READ_ONLY = new Set(['status', 'diff', 'log', 'show', 'blame']);
// Options that write files, run programs or reach elsewhere, even under a read-only subcommand.
const REFUSED_OPTION = /^(--output|--ext-diff|--textconv|-c$|--config|--exec|--upload-pack|--git-dir|--work-tree|--no-index)/;

/** git status/diff/log/show/blame in the worktree, nothing else: the agent reads history, it never rewrites it. */
export function gitRead(root: string, input: ToolInput<'git'>, timeoutMs: number): Promise<string> {
  const args = typeof input.args === 'string' ? parse(input.args).map((t) => (typeof t === 'string' ? t : '')) : input.args;
  if (args[0] === 'git') args.shift();
  const sub = args[0];
  if (!sub || !READ_ONLY.has(sub)) throw new ToolError(`git ${sub ?? ''}: only ${[...READ_ONLY].join(', ')} are allowed`);
  const bad = args.find((a) => a === '' || REFUSED_OPTION.test(a));
  if (bad !== undefined) throw new ToolError(`git ${sub}: option '${bad || '(shell operator)'}' is not allowed`);
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      ['--no-pager', '-c', 'core.fsmonitor=false', '-c', 'diff.external=', ...args],
      { cwd: root, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, GIT_OPTIONAL_LOCKS: '0', GIT_PAGER: 'cat' } },
      (err, stdout, stderr) => {
        if (err && !stdout) reject(new ToolError(`git ${sub} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout || '(no output)');
      },
    );
  });
}
