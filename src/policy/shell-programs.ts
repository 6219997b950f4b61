/**
 * Programs that run code which no permission rule can look into: inline interpreter code
 * (`python3 -c`, `node -e`, `perl -e`), awk's system(), sed's `e`, package runners that download
 * and run (`npx`), option-borne commands (`tar --to-command`, `ssh -o ProxyCommand`), `source`.
 * Each is a construct: it asks unless an allow rule names it (e.g. `Bash(python3 -c:*)`), since a
 * rule for the program alone (`Bash(python3:*)`) was written with scripts in mind, not code.
 * Also builtins that evaluate code hidden in variable names or values (`let`, `read 'a[$(…)]'`,
 * `alias`), which no rule can make safe.
 */

export interface Opaque {
  /** `upTo`: the index just past the words a rule must name for the construct to be allowed. */
  constructs: { what: string; upTo: number }[];
  problems: string[];
  /**
   * The program reads the code it runs from standard input: 'always' (`python3`, `node -`), or
   * 'options-only' (`python3 -u`: it does, but so do `--version` and the like, so only a
   * here-document or here-string fed to it counts).
   */
  readsStdin: false | 'always' | 'options-only';
  /** The program is one this module knows, so its arguments are not suspected of being a command. */
  known: boolean;
}

interface Interpreter {
  language: string;
  /** Whether a short-option cluster or long option means "the next word (or the rest) is code". */
  code: (opt: string) => boolean;
  /** Options whose value is the next word (when not glued). */
  values: readonly string[];
  /** Options after which the program is not read from a script or stdin (`python -m mod`). */
  module?: (opt: string) => boolean;
}

const INTERPRETERS: [RegExp, Interpreter][] = [
  [/^(?:python[0-9.]*|pypy[0-9.]*)$/, { language: 'Python', code: (o) => /^-[A-Za-z]*c/.test(o), values: ['-W', '-X', '-Q'], module: (o) => /^-[A-Za-z]*m/.test(o) }],
  [/^(?:node|nodejs)$/, { language: 'JavaScript', code: (o) => /^-[A-Za-z]*[ep]/.test(o) || /^--(?:eval|print)(?:=|$)/.test(o), values: ['-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--conditions', '--input-type', '--env-file', '--title', '--stack-size'] }],
  [/^bun$/, { language: 'JavaScript', code: (o) => /^-[A-Za-z]*e/.test(o) || /^--(?:eval|print)(?:=|$)/.test(o) || o === '-p', values: ['-r', '--preload', '--cwd', '--env-file'] }],
  [/^perl[0-9.]*$/, { language: 'Perl', code: (o) => /^-[A-Za-z0-9]*[eE]/.test(o) && !/^-[MmIx]/.test(o), values: [] }],
  [/^ruby[0-9.]*$/, { language: 'Ruby', code: (o) => /^-[A-Za-z]*e/.test(o), values: ['-C', '-I', '-r', '-E'] }],
  [/^php[0-9.]*$/, { language: 'PHP', code: (o) => /^-[A-Za-z]*r/.test(o), values: ['-c', '-d', '-f', '-z'] }],
  [/^(?:lua[0-9.]*|luajit)$/, { language: 'Lua', code: (o) => o === '-e', values: ['-l'] }],
  [/^(?:Rscript|R)$/, { language: 'R', code: (o) => o === '-e', values: [] }],
  [/^expect$/, { language: 'Tcl', code: (o) => o === '-c', values: ['-f'] }],
  [/^julia$/, { language: 'Julia', code: (o) => /^-(?:e|E)$|^--(?:eval|print)/.test(o), values: [] }],
  [/^osascript$/, { language: 'AppleScript', code: (o) => o === '-e', values: [] }],
  [/^(?:vim|vi|nvim|ex|view|gvim)$/, { language: 'Vim', code: (o) => o === '-c' || o === '--cmd' || o === '-S' || (o.startsWith('+') && o.length > 1), values: ['-u', '-i', '-T', '-w', '-W', '-s', '-t'] }],
  [/^emacs$/, { language: 'Emacs Lisp', code: (o) => /^--?eval(?:=|$)|^-l$|^--load/.test(o), values: ['-f', '--funcall'] }],
  [/^gdb$/, { language: 'gdb', code: (o) => /^--?(?:ex|eval-command|x|command|iex|init-eval-command)(?:=|$)/.test(o), values: ['-p', '--pid', '-cd', '-d'] }],
];

/** Interpreters that run standard input when given no script (a shell or REPL fed by a pipe). */
const STDIN_INTERPRETERS = /^(?:python[0-9.]*|pypy[0-9.]*|node|nodejs|perl[0-9.]*|ruby[0-9.]*|php[0-9.]*|lua[0-9.]*|luajit|Rscript|R|julia|tclsh|wish|irb|bc|gdb)$/;

/** Runners that fetch a package and run it: `npx x`, `npm exec x`, `pnpm dlx x`. */
const RUNNERS: Record<string, number> = { npx: 1, bunx: 1, pnpx: 1, uvx: 1, parallel: 1, source: 1, '.': 1 };
/** Subcommands that fetch and run; a trailing '+' means only when given a package (`npm init x` runs create-x). */
const RUNNER_SUBCOMMANDS: Record<string, string[]> = {
  npm: ['exec', 'x', 'init+', 'create+'],
  pnpm: ['dlx', 'exec', 'create+'],
  yarn: ['dlx', 'exec', 'create+'],
  bun: ['x', 'create+'],
  pipx: ['run'],
  uv: ['tool'],
  deno: ['eval'],
};

/** Programs that read commands from standard input, some of which run shell commands (`!cmd`, `.shell`). */
const COMMAND_READERS = /^(?:ed|red|dc|sqlite3|mysql|mariadb|psql|ftp|sftp|expect|tclsh|wish)$/;

/** Options of ordinary programs that take a command to run (GTFOBins-style). */
const COMMAND_OPTIONS: Record<string, RegExp> = {
  tar: /^(?:--to-command|--use-compress-program|-I|--checkpoint-action|--info-script|--new-volume-script|-F|--rsh-command)(?:=|$)|^-[A-Za-z]*I/,
  rsync: /^(?:-e|--rsh|--rsync-path)(?:=|$)|^-[A-Za-z]*e/,
  zip: /^(?:-TT|--unzip-command)(?:=|$)/,
  ssh: /^-o\s*(?:ProxyCommand|LocalCommand|PermitLocalCommand|KnownHostsCommand)|^(?:ProxyCommand|LocalCommand|KnownHostsCommand)=/i,
  scp: /^-S$|^-o\s*ProxyCommand|^ProxyCommand=/i,
  sftp: /^-S$|^-o\s*ProxyCommand|^ProxyCommand=/i,
  less: /^\+!|^--?(?:lesskey|LESSOPEN)/,
  make: /^(?:--eval|-E)(?:=|$)|^-f (?:-|\/dev\/stdin)$|^--(?:file|makefile)=(?:-|\/dev\/stdin)$/,
  sqlite3: /(?:^|[\n;])\s*\.(?:shell|system)\b/,
  crontab: /^[^-]|^-$/,
  man: /^-P$|^--pager|^-H/,
  rg: /^--(?:pre|hostname-bin)(?:=|$)/,
};

/** Builtins whose arguments are variable names: a name with a subscript (`a[$(id)]`) is evaluated. */
const NAME_TAKING = new Set(['read', 'unset', 'mapfile', 'readarray', 'getopts', 'wait', 'export', 'declare', 'typeset', 'local', 'readonly']);

export function opaqueCode(name: string, argv: readonly string[]): Opaque {
  const r: Opaque = { constructs: [], problems: [], readsStdin: false, known: false };
  const subs = RUNNER_SUBCOMMANDS[name];
  if (subs) {
    const sub = argv.findIndex((a, k) => k > 0 && !a.startsWith('-'));
    const word = sub > 0 ? argv[sub]! : '';
    const hasPackage = argv.slice(sub + 1).some((a) => !a.startsWith('-'));
    if (sub > 0 && (subs.includes(word) || (subs.includes(`${word}+`) && hasPackage))) {
      r.known = true;
      r.constructs.push({ what: `'${name} ${word}' runs a program or code it may first download`, upTo: sub + 1 });
      return r;
    }
  }
  const interpreter = INTERPRETERS.find(([re]) => re.test(name))?.[1];
  if (interpreter) {
    r.known = true;
    let i = 1;
    for (; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '-' || a === '--') {
        if (a === '-') r.readsStdin = 'always';
        break;
      }
      if (!a.startsWith('-') && !a.startsWith('+')) break;
      if (interpreter.code(a)) {
        r.constructs.push({ what: `'${name} ${a}' runs ${interpreter.language} code given on the command line, which cannot be checked`, upTo: i + 1 });
        return r;
      }
      if (interpreter.module?.(a)) return r;
      // `node --import data:text/javascript,…`: code in a module URL
      const value = a.includes('=') ? a.slice(a.indexOf('=') + 1) : interpreter.values.includes(a) ? argv[i + 1] : undefined;
      if (value?.startsWith('data:')) {
        r.constructs.push({ what: `'${name} ${a.split('=')[0]}' loads code from a data: URL, which cannot be checked`, upTo: a.includes('=') ? i + 1 : i + 2 });
        return r;
      }
      if (interpreter.values.includes(a)) i++;
    }
    if (i >= argv.length && STDIN_INTERPRETERS.test(name)) r.readsStdin = argv.length === 1 ? 'always' : 'options-only';
    return r;
  }
  if (STDIN_INTERPRETERS.test(name)) {
    r.known = true;
    r.readsStdin = argv.length === 1 ? 'always' : 'options-only';
    return r;
  }
  if (RUNNERS[name] !== undefined) {
    r.known = true;
    const what = name === 'source' || name === '.' ? `'${name}' runs the commands of a file in this shell` : `'${name}' runs a program it may first download`;
    r.constructs.push({ what, upTo: RUNNERS[name]! });
    return r;
  }
  if (subs) return r;
  if (COMMAND_READERS.test(name)) {
    // only a here-document or here-string fed to it counts (see shell-walk.ts): arguments are file names
    r.known = true;
    r.readsStdin = 'options-only';
  }
  if (/^(?:[gmn]?awk|busybox awk)$/.test(name)) {
    r.known = true;
    awkProgram(name, argv, r);
    return r;
  }
  if (name === 'sed' || name === 'gsed') {
    r.known = true;
    sedScripts(argv).forEach(([script, at]) => {
      if (sedExecutes(script)) r.constructs.push({ what: `'sed' script '${script}' runs shell commands (the e command or flag)`, upTo: at + 1 });
    });
    return r;
  }
  const opt = COMMAND_OPTIONS[name];
  if (opt) {
    r.known = true;
    if (name === 'crontab' && argv.slice(1).some((a) => /^-[lre]$/.test(a))) return r; // list, remove, edit
    argv.forEach((a, k) => {
      const joined = k + 1 < argv.length && (a === '-o' || a === '-S' || a === '-f') ? `${a} ${argv[k + 1]}` : a;
      if (k > 0 && (opt.test(a) || opt.test(joined))) r.constructs.push({ what: `'${name} ${a}' makes ${name} run a command of the caller's choosing`, upTo: k + 1 });
    });
    return r;
  }
  if (name === 'alias' && argv.slice(1).some((a) => a.includes('='))) r.problems.push(`'alias' redefines what a command name runs`);
  if (name === 'hash' && argv.slice(1).some((a) => /^-[A-Za-z]*p/.test(a))) r.problems.push(`'hash -p' redefines which file a command name runs`);
  if (name === 'enable' && argv.slice(1).some((a) => /^-[A-Za-z]*f/.test(a))) r.problems.push(`'enable -f' loads a builtin from a shared library`);
  if ((name === 'mapfile' || name === 'readarray') && argv.slice(1).some((a) => /^-[A-Za-z]*C/.test(a))) r.problems.push(`'${name} -C' runs a callback command`);
  if (name === 'let') r.problems.push(`'let' evaluates arithmetic, which can run commands hidden in variable values`);
  if (name === 'printf') {
    const v = argv.indexOf('-v');
    if (v > 0 && /\[/.test(argv[v + 1] ?? '')) r.problems.push(`'printf -v ${argv[v + 1]}' assigns through an array subscript, which is evaluated and can run commands`);
  }
  if (NAME_TAKING.has(name) && argv.slice(1).some((a) => /^[A-Za-z_][A-Za-z0-9_]*\[/.test(a))) {
    r.problems.push(`'${name}' is given a variable name with an array subscript, which is evaluated and can run commands`);
  }
  if ((name === 'test' || name === '[' || name === '[[') && argv.some((a, k) => a === '-v' && /\[/.test(argv[k + 1] ?? ''))) {
    r.problems.push(`'${name} -v' is given a variable name with an array subscript, which is evaluated and can run commands`);
  }
  if (name === 'declare' || name === 'typeset' || name === 'local') {
    if (argv.slice(1).some((a) => /^-[A-Za-z]*i/.test(a))) r.problems.push(`'${name} -i' makes assignments arithmetic, which can run commands hidden in values`);
  }
  return r;
}

/** awk's program is its first non-option argument (unless -f names a file); system() and pipes run commands. */
function awkProgram(name: string, argv: readonly string[], r: Opaque): void {
  let i = 1;
  let fromFile = false;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    if (a === '-f' || a.startsWith('--file')) fromFile = true;
    if (['-f', '-v', '-F', '--file', '--assign', '--field-separator', '-i', '--include', '-l', '--load', '-E', '--exec'].includes(a)) i++;
    if (a === '-E' || a.startsWith('--exec')) fromFile = true;
  }
  if (fromFile || i >= argv.length) return;
  const program = argv[i]!;
  if (/\bsystem\s*\(|\|\s*&?\s*getline|\|&|\bprintf?\b[^;{}]*\|/.test(program)) {
    r.constructs.push({ what: `the ${name} program runs shell commands (system() or a pipe)`, upTo: i + 1 });
  }
}

/** sed's scripts: `-e S`, `--expression=S`, or the first non-option argument. */
function sedScripts(argv: readonly string[]): [string, number][] {
  const scripts: [string, number][] = [];
  let explicit = false;
  let first: [string, number] | undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-e' || a === '--expression') {
      explicit = true;
      if (i + 1 < argv.length) scripts.push([argv[i + 1]!, i + 1]);
      i++;
    } else if (a.startsWith('--expression=')) {
      explicit = true;
      scripts.push([a.slice(13), i]);
    } else if (a.startsWith('-e') && a.length > 2) {
      explicit = true;
      scripts.push([a.slice(2), i]);
    } else if (a === '-f' || a === '--file' || a === '-l' || a === '--line-length') i++;
    else if (!a.startsWith('-') && !first) first = [a, i];
  }
  if (!explicit && first) scripts.push(first);
  return scripts;
}

/** GNU sed's `e` command (run a command) and the `e` flag of `s///` (run the pattern space). */
export function sedExecutes(script: string): boolean {
  const ADDRESS = /^(?:\d+(?:~\d+)?|\$|\/(?:[^/\\]|\\.)*\/[IM]*)?(?:\s*,\s*(?:\d+|\$|\/(?:[^/\\]|\\.)*\/[IM]*|[+~]\d+))?\s*!?\s*/;
  let i = 0;
  while (i < script.length) {
    while (i < script.length && /[\s;{}]/.test(script[i]!)) i++;
    i += ADDRESS.exec(script.slice(i))![0].length;
    while (i < script.length && /[\s!{]/.test(script[i]!)) i++; // `/re/ { e cmd }`: a block after the address
    const c = script[i];
    if (c === undefined) break;
    if (c === 'e') return true;
    if (c === 's' || c === 'y') {
      const d = script[i + 1];
      let k = i + 2;
      let seen = 0;
      while (k < script.length && seen < 2) {
        if (script[k] === '\\') k++;
        else if (script[k] === d) seen++;
        k++;
      }
      const flags = /^[a-zA-Z0-9]*/.exec(script.slice(k))![0];
      if (c === 's' && flags.includes('e')) return true;
      i = k + flags.length;
      continue;
    }
    // a, i, c take text to the end of the line; other commands end at ';' or a newline
    const stop = 'aic'.includes(c) ? /\n/ : /[;\n}]/;
    const rest = script.slice(i + 1);
    const m = stop.exec(rest);
    i = m ? i + 1 + m.index : script.length;
  }
  return false;
}
