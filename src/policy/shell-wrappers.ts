import { scanOptions, type OptionSpec } from './shell-options.js';
import { opaqueCode } from './shell-programs.js';

/**
 * Programs that run another command given in their arguments. For each, where that command starts
 * (`time -p curl x` runs `curl x`, `timeout -s KILL 5 cmd` runs `cmd`), or which argument is a
 * shell script it runs (`sh -c '…'`, `eval …`, `trap '…' EXIT`). The permission layer checks the
 * command as written and, separately, the command it runs, so a deny rule holds whatever wraps it.
 */

export type Origin =
  | 'top'
  | 'substitution'
  | 'process-substitution'
  | 'shell -c'
  | 'find -exec'
  | 'xargs'
  | 'eval'
  | 'wrapper'
  | 'here-document'
  | 'trap';

export interface Unwrapped {
  /** A command this one runs, as words: for `timeout 5 npm test`, `npm test` from index 2. */
  inner?: {
    start: number;
    end: number;
    origin: Origin;
    wrapper: string;
    assignments: string[];
    /** xargs: words from its input are added at the end. */
    fromInput?: boolean;
    /** Words the inner command starts with that are not in the argv (`git -C d push` runs `git push`). */
    prefix?: string[];
    /** A placeholder replaced at run time (`find -exec … {}`, `xargs -I X`): words holding it are not known now. */
    placeholder?: string;
  };
  /** A shell script this one runs, and the index of the word it came from. */
  script?: { source: string; at: number; origin: Origin; wrapper: string };
  /** Code no rule can look into (`python3 -c …`): allowed only by a rule naming the words up to `upTo`. */
  constructs: { what: string; upTo: number }[];
  problems: string[];
  /** A shell or interpreter with no script: it runs whatever arrives on standard input (see Opaque). */
  readsStdin?: { program: string; shell: boolean; always: boolean };
  /** An unknown program may run its arguments as a command without anyone seeing it. */
  mayRunArguments: boolean;
}

export const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'yash', 'posh', 'rbash']);
/** Shells whose language is not bash's: their `-c` scripts cannot be read with the bash grammar. */
const OTHER_SHELLS = new Set(['fish', 'csh', 'tcsh', 'nu', 'elvish', 'xonsh', 'pwsh', 'powershell']);
export const ESCALATE = new Set(['sudo', 'doas', 'su', 'pkexec', 'runuser']);

const W = (spec: OptionSpec): OptionSpec => spec;
/** Programs whose arguments, after their own options, are the command they run. */
const WRAPPERS: Record<string, OptionSpec> = {
  time: W({ flags: 'pavq', values: 'fo', long: ['--portability', '--append', '--verbose', '--quiet'], longValues: ['--format', '--output'] }),
  nice: W({ values: 'n', longValues: ['--adjustment'], numeric: true }),
  ionice: W({ flags: 't', values: 'cnpPu', long: ['--ignore'], longValues: ['--class', '--classdata', '--pid', '--pgid', '--uid'] }),
  timeout: W({ flags: 'v', values: 'sk', long: ['--preserve-status', '--foreground', '--verbose'], longValues: ['--signal', '--kill-after'], positional: 1 }),
  stdbuf: W({ values: 'ioe', longValues: ['--input', '--output', '--error'] }),
  nohup: W({}),
  setsid: W({ flags: 'cfw', long: ['--ctty', '--fork', '--wait'] }),
  env: W({ flags: 'i0v', values: 'uCS', long: ['--ignore-environment', '--null', '--debug', '--block-signal', '--default-signal', '--ignore-signal', '--list-signal-handling'], longValues: ['--unset', '--chdir', '--split-string'], assignments: true }),
  sudo: W({ flags: 'AbEeHiKklnPSsVv', values: 'CDghpRrTtUu', long: ['--askpass', '--background', '--preserve-env', '--edit', '--set-home', '--login', '--remove-timestamp', '--reset-timestamp', '--non-interactive', '--preserve-groups', '--stdin', '--shell', '--validate'], longValues: ['--user', '--group', '--host', '--prompt', '--role', '--type', '--other-user', '--close-from', '--chdir', '--chroot', '--command-timeout'], assignments: true }),
  doas: W({ flags: 'ns', values: 'uC' }),
  pkexec: W({ long: ['--disable-internal-agent', '--keep-cwd'], longValues: ['--user'] }),
  runuser: W({ flags: 'lmpf', values: 'ugGcsw', long: ['--login', '--preserve-environment', '--pty'], longValues: ['--user', '--group', '--supp-group', '--command', '--shell', '--whitelist-environment'] }),
  command: W({ flags: 'p' }),
  builtin: W({}),
  exec: W({ flags: 'cl', values: 'a' }),
  noglob: W({}),
  nocorrect: W({}),
  coproc: W({}),
  xargs: W({ flags: '0prtxoil', values: 'aEIdLnPs', long: ['--null', '--interactive', '--no-run-if-empty', '--verbose', '--exit', '--open-tty', '--show-limits', '--replace', '--max-lines', '--eof'], longValues: ['--arg-file', '--delimiter', '--max-args', '--max-procs', '--max-chars', '--process-slot-var'] }),
  chroot: W({ lenient: true, positional: 1 }),
  unbuffer: W({ flags: 'p' }),
  taskset: W({ flags: 'acp', long: ['--all-tasks', '--cpu-list', '--pid'], positional: 1 }),
  chrt: W({ flags: 'abdfiorRpmv', values: 'TPD', positional: 1 }),
  flock: W({ flags: 'sxenuoF', values: 'wEc', long: ['--shared', '--exclusive', '--nonblock', '--unlock', '--close', '--no-fork', '--verbose'], longValues: ['--timeout', '--conflict-exit-code', '--command'], positional: 1 }),
  strace: W({ flags: 'cCdfFhiqrtTvVwxyYkn', values: 'abeEIoOpPsSuUX' }),
  ltrace: W({ flags: 'bcCfhiLrStTV', values: 'aAeDlnopsuwx' }),
  valgrind: W({ flags: 'qv', lenient: true }),
  fakeroot: W({ values: 'is', long: ['--unknown-is-real'], longValues: ['--lib', '--faked'] }),
  proxychains: W({ flags: 'q', values: 'f' }),
  proxychains4: W({ flags: 'q', values: 'f' }),
  torsocks: W({ flags: 'diq', values: 'uaP', lenient: true }),
  firejail: W({ lenient: true }),
  unshare: W({ lenient: true }),
  nsenter: W({ lenient: true }),
  'xvfb-run': W({ flags: 'a', values: 'nsfpe', long: ['--auto-servernum'], longValues: ['--server-num', '--server-args', '--auth-file', '--xauth-protocol', '--error-file'] }),
  'dbus-launch': W({ long: ['--sh-syntax', '--csh-syntax', '--auto-syntax', '--close-stderr', '--exit-with-session', '--exit-with-x11'], longValues: ['--config-file'] }),
  catchsegv: W({}),
  'systemd-run': W({ flags: 'qGdPStr', values: 'pEuMH', lenient: true }),
  caffeinate: W({ flags: 'dimsu', values: 'tw' }),
};

/** Escaping the wrapped command through another path: `watch 'cmd'` and `su -c` run a shell string. */
const SCRIPT_OPTIONS: Record<string, string[]> = { flock: ['-c', '--command'], su: ['-c', '--command'], runuser: ['-c', '--command'], script: ['-c', '--command'] };

/** Programs known never to run their arguments as a command, so they need no suspicion of it. */
const INERT = new Set([
  'echo', 'printf', 'cat', 'head', 'tail', 'wc', 'ls', 'dir', 'sort', 'uniq', 'cut', 'tr', 'grep', 'egrep', 'fgrep', 'rg', 'ag', 'ack',
  'git', 'npm', 'pnpm', 'yarn', 'which', 'type', 'whereis', 'man', 'help', 'test', '[', '[[', 'mkdir', 'touch', 'cp', 'mv', 'rm', 'ln',
  'chmod', 'chown', 'diff', 'cmp', 'comm', 'file', 'stat', 'du', 'df', 'basename', 'dirname', 'realpath', 'readlink', 'jq', 'yq', 'tee',
  'base64', 'sha256sum', 'sha1sum', 'md5sum', 'date', 'sleep', 'true', 'false', 'pwd', 'cd', 'pushd', 'popd', 'id', 'whoami', 'uname',
  'hostname', 'unset', 'read', 'wait', 'exit', 'return', 'set', 'shift', 'local', 'export', 'declare', 'paste', 'join', 'fold', 'fmt',
  'nl', 'od', 'xxd', 'hexdump', 'strings', 'column', 'expand', 'tac', 'rev', 'seq', 'yes', 'kill', 'ps', 'pgrep', 'less', 'more',
  'apropos', 'tsc', 'eslint', 'prettier', 'node', 'python', 'python3', 'cargo', 'go', 'make', 'alias',
]);

const baseName = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

/** Whether a program runs the command in its arguments (a wrapper or a shell), as unwrap() reads them. */
export function runsCommands(program: string): boolean {
  const name = baseName(program);
  return WRAPPERS[name] !== undefined || SHELLS.has(name) || ['eval', 'watch', 'su', 'script', 'find', 'busybox', 'trap'].includes(name);
}

/** What a command runs besides itself. `argv` are the words as rules see them; `literal` marks those known now. */
export function unwrap(argv: readonly string[], literal: readonly boolean[]): Unwrapped {
  const out: Unwrapped = { constructs: [], problems: [], mayRunArguments: false };
  const prog = argv[0];
  if (prog === undefined) return out;
  const name = baseName(prog);
  const scriptFrom = (at: number, origin: Origin, wrapper: string, joinRest = false): void => {
    if (at >= argv.length) {
      out.problems.push(`'${wrapper}' has no command to run`);
      return;
    }
    const words = joinRest ? argv.slice(at) : [argv[at]!];
    if (literal.slice(at, joinRest ? argv.length : at + 1).some((l) => !l)) {
      out.problems.push(`'${wrapper}' runs a string only known at run time`);
      return;
    }
    out.script = { source: words.join(' '), at, origin, wrapper };
  };

  if (name === 'command' && (argv[1] === '-v' || argv[1] === '-V')) return out; // a lookup, not a run
  if (name === 'busybox' && argv.length > 1) {
    out.inner = { start: 1, end: argv.length, origin: 'wrapper', wrapper: 'busybox', assignments: [] };
    return out;
  }
  const spec = WRAPPERS[name];
  if (spec) {
    const scan = scanOptions(name, argv, literal, 1, spec);
    out.problems.push(...scan.problems);
    if (name === 'env' && (scan.values.has('-C') || scan.values.has('--chdir'))) out.problems.push('env -C changes the directory the command runs in');
    const split = scan.values.get('-S') ?? scan.values.get('--split-string');
    if (split) {
      // `env -S 'curl -x' y`: the string is split into words, much as the shell would
      out.script = { source: [split.join(' '), ...argv.slice(scan.next)].join(' '), at: scan.valueAt.get('-S') ?? scan.valueAt.get('--split-string')!, origin: 'wrapper', wrapper: 'env -S' };
      return out;
    }
    for (const opt of SCRIPT_OPTIONS[name] ?? []) {
      if (scan.values.has(opt)) {
        scriptFrom(scan.valueAt.get(opt)!, 'shell -c', `${name} ${opt}`);
        return out;
      }
    }
    if (scan.problems.length) return out;
    if (scan.next < argv.length) {
      out.inner = { start: scan.next, end: argv.length, origin: name === 'xargs' ? 'xargs' : 'wrapper', wrapper: name, assignments: scan.assignments };
      if (name === 'xargs') {
        out.inner.fromInput = true;
        // -I R, -i (R is {}), --replace[=R]: R in a word is replaced by each input line
        const options = argv.slice(1, scan.next);
        const lower = options.map((a) => /^-[0prtxol]*i$|^--replace(?:=(.*))?$/.exec(a)).find(Boolean);
        const replace = scan.values.get('-I')?.[0] ?? (lower ? lower[1] || '{}' : undefined);
        if (replace !== undefined) out.inner.placeholder = replace;
      }
    } else if (name === 'xargs') {
      out.inner = { start: argv.length, end: argv.length, origin: 'xargs', wrapper: 'xargs', assignments: [], fromInput: true };
    }
    return out;
  }
  switch (name) {
    case 'eval':
      scriptFrom(1, 'eval', 'eval', true);
      return out;
    case 'trap': {
      // `trap [--] 'cmd' SIG…`: the first operand is a script run later; `trap -p`, `trap - SIG` run nothing
      const at = argv[1] === '--' ? 2 : 1;
      const action = argv[at];
      if (argv.length >= at + 2 && action !== undefined && action !== '-' && (at === 2 || !action.startsWith('-'))) scriptFrom(at, 'trap', 'trap');
      return out;
    }
    case 'watch': {
      const scan = scanOptions(name, argv, literal, 1, { flags: 'bcegtpx', values: 'nqd', long: ['--beep', '--color', '--no-color', '--errexit', '--chgexit', '--no-title', '--precise', '--exec'], longValues: ['--interval', '--differences', '--equexit'] });
      out.problems.push(...scan.problems);
      if (!scan.problems.length) scriptFrom(scan.next, 'shell -c', 'watch', true);
      return out;
    }
    case 'script':
    case 'su': {
      const scan = scanOptions(name, argv, literal, 1, { lenient: true, values: name === 'su' ? 'cgGsw' : 'cEIOBTm', longValues: ['--command', '--session-command', '--shell', '--group', '--supp-group', '--log-out', '--log-in', '--log-io', '--log-timing', '--logging-format', '--echo'] });
      const opt = ['-c', '--command', '--session-command'].find((o) => scan.values.has(o));
      if (opt) scriptFrom(scan.valueAt.get(opt)!, 'shell -c', `${name} ${opt}`);
      return out;
    }
    case 'at':
    case 'batch':
      // `echo cmd | at now`: standard input is a shell script, run later outside this command's sandbox
      if (!argv.slice(1).some((a) => /^-[A-Za-z]*[flrdc]/.test(a))) out.readsStdin = { program: name, shell: true, always: true };
      return out;
    case 'find':
      return findExec(argv, out);
    case 'git':
      return gitRuns(argv, literal, out);
  }
  if (SHELLS.has(name)) return shellRuns(name, argv, literal, out);
  if (OTHER_SHELLS.has(name) && argv.length > 1) {
    out.constructs.push({ what: `'${name}' runs a script in a language other than bash's, which cannot be checked`, upTo: 1 });
    return out;
  }
  const opaque = opaqueCode(name, argv);
  out.constructs.push(...opaque.constructs);
  out.problems.push(...opaque.problems);
  if (opaque.readsStdin) out.readsStdin = { program: name, shell: false, always: opaque.readsStdin === 'always' };
  out.mayRunArguments = !opaque.known && !INERT.has(name);
  return out;
}

/** `sh -c 'script' [name args…]`, `bash -lc …`, `sh file`, or `sh` reading commands from standard input. */
function shellRuns(name: string, argv: readonly string[], literal: readonly boolean[], out: Unwrapped): Unwrapped {
  let i = 1;
  let command = false;
  let stdin = false;
  while (i < argv.length) {
    const a = argv[i]!;
    if (!literal[i]) {
      out.problems.push(`'${name}' has an argument only known at run time where an option or script is expected`);
      return out;
    }
    if (a === '--' || a === '-') {
      i++;
      break;
    }
    if (a === '--rcfile' || a === '--init-file') {
      out.constructs.push({ what: `'${name} ${a}' runs the commands of another file first`, upTo: i + 2 });
      i += 2;
      continue;
    }
    if (/^--[a-z-]+$/.test(a)) {
      i++;
      continue;
    }
    if (/^[-+][A-Za-z]+$/.test(a)) {
      if (a[0] === '-' && a.includes('c')) command = true;
      if (a[0] === '-' && a.includes('s')) stdin = true;
      // `-o option` / `-O shopt` take the next word
      i += /[oO]/.test(a.slice(1)) ? 2 : 1;
      continue;
    }
    break;
  }
  if (command) {
    scriptFromShell(name, argv, literal, i, out);
    return out;
  }
  const informational = argv.some((a) => a === '--version' || a === '--help');
  if (i >= argv.length || stdin) out.readsStdin = { program: name, shell: true, always: !informational };
  return out;
}

function scriptFromShell(name: string, argv: readonly string[], literal: readonly boolean[], at: number, out: Unwrapped): void {
  if (at >= argv.length) out.problems.push(`'${name} -c' has no command`);
  else if (!literal[at]) out.problems.push(`'${name} -c' runs a string only known at run time`);
  else out.script = { source: argv[at]!, at, origin: 'shell -c', wrapper: `${name} -c` };
}

/** `find … -exec cmd {} ;` runs cmd once per file (only the first -exec is followed; more asks). */
function findExec(argv: readonly string[], out: Unwrapped): Unwrapped {
  const execs: number[] = [];
  argv.forEach((a, k) => {
    if (['-exec', '-execdir', '-ok', '-okdir'].includes(a)) execs.push(k);
  });
  if (execs.length === 0) return out;
  if (execs.length > 1) {
    out.problems.push(`'find' runs ${execs.length} commands through -exec; write them as separate commands to have each checked`);
    return out;
  }
  const k = execs[0]!;
  let end = k + 1;
  while (end < argv.length && argv[end] !== ';' && argv[end] !== '+') end++;
  if (end === k + 1) out.problems.push(`'find ${argv[k]}' has no command`);
  else out.inner = { start: k + 1, end, origin: 'find -exec', wrapper: `find ${argv[k]}`, assignments: [], placeholder: '{}' };
  return out;
}

/** Git options and subcommands that run commands or code of the caller's choosing. */
function gitRuns(argv: readonly string[], literal: readonly boolean[], out: Unwrapped): Unwrapped {
  let i = 1;
  while (i < argv.length && argv[i]!.startsWith('-')) {
    const a = argv[i]!;
    if (a === '-c' || a.startsWith('-c') || a.startsWith('--config-env') || a.startsWith('--exec-path')) {
      out.constructs.push({ what: `'git ${a.startsWith('--') ? a.split('=')[0] : '-c'}' sets configuration that can run any command (core.pager, aliases, hooks)`, upTo: i + 1 });
    }
    i += ['-C', '-c', '--git-dir', '--work-tree', '--namespace', '--config-env'].includes(a) ? 2 : 1;
  }
  const sub = argv[i];
  const rest = argv.slice(i + 1);
  if (i > 1 && sub !== undefined) {
    // `git -C dir push`: the same subcommand as `git push`, which is what rules name
    out.inner = { start: i, end: argv.length, origin: 'wrapper', wrapper: 'git', assignments: [], prefix: [argv[0]!] };
  }
  const output = rest.findIndex((r) => r === '--output' || r.startsWith('--output='));
  if (output >= 0) out.constructs.push({ what: `'git ${sub} --output' writes a file the rules cannot see`, upTo: i + 2 + output });
  if (sub === 'rebase' || sub === 'bisect' || sub === 'submodule' || sub === 'difftool' || sub === 'grep' || sub === 'mergetool') {
    const x = rest.findIndex((r) => r === '-x' || r === '--exec' || r.startsWith('--exec=') || r.startsWith('--extcmd') || r === '-O' || r.startsWith('--open-files-in-pager') || r.startsWith('-O'));
    if ((sub === 'rebase' || sub === 'difftool') && x >= 0) {
      const word = rest[x]!;
      const at = i + 1 + x;
      if (word.includes('=')) out.constructs.push({ what: `'git ${sub} ${word.split('=')[0]}' runs a command`, upTo: at + 1 });
      else if (sub === 'rebase') scriptFromShell('git rebase --exec', argv, literal, at + 1, out);
      else out.constructs.push({ what: `'git difftool ${word}' runs a command`, upTo: at + 2 });
    } else if (sub === 'grep' && x >= 0) out.constructs.push({ what: `'git grep ${rest[x]}' opens the results with a command`, upTo: i + 2 + x });
    else if (sub === 'bisect' && rest[0] === 'run' && rest.length > 1) {
      out.inner = { start: i + 2, end: argv.length, origin: 'wrapper', wrapper: 'git bisect run', assignments: [] };
    } else if (sub === 'submodule' && rest.includes('foreach')) {
      const f = rest.indexOf('foreach');
      let at = i + 2 + f;
      while (at < argv.length && argv[at]!.startsWith('--')) at++;
      if (at < argv.length) {
        if (literal.slice(at).every(Boolean)) out.script = { source: argv.slice(at).join(' '), at, origin: 'shell -c', wrapper: 'git submodule foreach' };
        else out.problems.push(`'git submodule foreach' runs a string only known at run time`);
      }
    } else if (sub === 'mergetool') out.constructs.push({ what: `'git mergetool' runs a configured command`, upTo: i + 1 });
  }
  return out;
}
