import { randomBytes } from 'node:crypto';
import { parse as shellParse, type ParseEntry } from 'shell-quote';
import { renderTokens } from './rules.js';

/**
 * Splits a shell command into the simple commands it would run, so each one is checked on its own:
 * `npm test && curl x | sh` is three commands, and an allow rule for the first says nothing about
 * the others.
 *
 * shell-quote does the tokenising (quotes, escapes, operators, globs, variables). It does not know
 * command substitution, backticks, comments, newlines as separators, here-documents or fd-numbered
 * redirections, so a small scanner in front of it handles exactly those: it lifts every `$(…)`,
 * backtick and `<(…)`/`>(…)` body out (each is decomposed in turn and checked like any other
 * command), turns unquoted newlines into `;`, drops comments and fd numbers, and reports anything it
 * cannot follow (an unterminated quote, a here-document) as a problem. A problem is never ignored:
 * the permission layer turns it into ask.
 */

export interface Redirect {
  op: string;
  target: string;
  /** `>`, `>>`, `>|`, `&>`, `<>`: the target file is written. */
  write: boolean;
  /** `<`, `<>`: the target file is read. */
  read: boolean;
}

export interface SimpleCommand {
  /** The command as rules see it: wrappers and leading assignments stripped, tokens normalised. */
  text: string;
  argv: string[];
  /** Stripped wrappers, outermost first (`sudo`, `timeout`, `env`, `xargs`, `sh -c`, …). */
  wrappers: string[];
  /** Names of variables set for this command (`A=1 cmd`, `env A=1 cmd`). */
  assignments: string[];
  redirects: Redirect[];
  /** Where the command came from: the top level, or inside something else. */
  origin: 'top' | 'substitution' | 'process-substitution' | 'shell -c' | 'find -exec' | 'xargs' | 'eval';
  /** A `cd`/`pushd` ran earlier in the same command line, so relative paths are relative to somewhere else. */
  afterCd: boolean;
  /** Reasons this command cannot be understood; any one makes the whole command ask. */
  problems: string[];
}

export interface CommandAnalysis {
  source: string;
  parts: SimpleCommand[];
  /** Problems with the command line as a whole (unterminated quote, here-document, …). */
  problems: string[];
}

/** Variables that change which program runs or what it loads: setting one is never a harmless prefix. */
const DANGEROUS_VARS = new Set([
  'PATH', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'DYLD_INSERT_LIBRARIES', 'DYLD_LIBRARY_PATH',
  'NODE_OPTIONS', 'NODE_PATH', 'BASH_ENV', 'ENV', 'SHELLOPTS', 'PS4', 'IFS', 'PROMPT_COMMAND',
  'PYTHONPATH', 'PYTHONSTARTUP', 'PYTHONHOME', 'PERL5LIB', 'PERL5OPT', 'RUBYLIB', 'RUBYOPT',
  'GIT_SSH', 'GIT_SSH_COMMAND', 'GIT_EXEC_PATH', 'GIT_CONFIG', 'GIT_CONFIG_GLOBAL', 'GIT_DIR', 'GIT_WORK_TREE',
  'GIT_EDITOR', 'EDITOR', 'VISUAL', 'PAGER', 'GIT_PAGER', 'HOME', 'SHELL', 'npm_config_script_shell',
]);

export function isDangerousVariable(name: string): boolean {
  return DANGEROUS_VARS.has(name) || name.startsWith('LD_') || name.startsWith('DYLD_') || name.startsWith('GIT_CONFIG_');
}

const MAX_DEPTH = 8;

export function decomposeCommand(command: string): CommandAnalysis {
  const out: CommandAnalysis = { source: command, parts: [], problems: [] };
  decomposeInto(command, 'top', 0, out);
  return out;
}

interface Substitution {
  body: string;
  kind: 'substitution' | 'process-substitution';
}

interface Scan {
  text: string;
  subs: Substitution[];
  problems: string[];
}

/**
 * Rewrites the parts of shell syntax shell-quote does not know into a form it does, lifting
 * substitutions out. `marker` is a per-call random word, so command text cannot forge one.
 */
function scan(src: string, marker: string): Scan {
  const subs: Substitution[] = [];
  const problems: string[] = [];
  let out = '';
  let i = 0;
  const n = src.length;
  const placeholder = (body: string, kind: Substitution['kind']): string => {
    subs.push({ body, kind });
    return `${marker}${subs.length - 1}${marker}`;
  };
  const atWordStart = (): boolean => out === '' || /[\s;&|()<>]$/.test(out);

  // Finds the `)` closing a `$(` / `<(` opened just before `from`, honouring quotes and nesting.
  const closeParen = (from: number): number => {
    let depth = 1;
    let j = from;
    while (j < n) {
      const c = src[j]!;
      if (c === '\\') j += 2;
      else if (c === "'") {
        const k = src.indexOf("'", j + 1);
        if (k < 0) return -1;
        j = k + 1;
      } else if (c === '"') {
        j++;
        while (j < n && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
        if (j >= n) return -1;
        j++;
      } else if (c === '`') {
        j++;
        while (j < n && src[j] !== '`') j += src[j] === '\\' ? 2 : 1;
        if (j >= n) return -1;
        j++;
      } else if (c === '(') {
        depth++;
        j++;
      } else if (c === ')') {
        depth--;
        if (depth === 0) return j;
        j++;
      } else j++;
    }
    return -1;
  };

  const backtick = (from: number): number => {
    let j = from;
    let body = '';
    while (j < n && src[j] !== '`') {
      if (src[j] === '\\' && j + 1 < n && '`\\$'.includes(src[j + 1]!)) {
        body += src[j + 1];
        j += 2;
      } else body += src[j++];
    }
    if (j >= n) {
      problems.push('a backtick substitution is not closed');
      return n;
    }
    out += placeholder(body, 'substitution');
    return j + 1;
  };

  // `$(` or `$((` at i (src[i] === '$', src[i+1] === '(').
  const dollarParen = (): void => {
    if (src[i + 2] === '(') {
      const end = closeParen(i + 2);
      if (end < 0 || src[end + 1] !== ')') {
        problems.push('an arithmetic expansion $(( … )) is not closed');
        i = n;
        return;
      }
      const body = src.slice(i + 3, end);
      if (/\$\(|`/.test(body)) problems.push('a command substitution inside an arithmetic expansion');
      out += `${marker}A${marker}`;
      i = end + 2;
      return;
    }
    const end = closeParen(i + 2);
    if (end < 0) {
      problems.push('a command substitution $( … ) is not closed');
      i = n;
      return;
    }
    out += placeholder(src.slice(i + 2, end), 'substitution');
    i = end + 1;
  };

  while (i < n) {
    const c = src[i]!;
    if (c === '\\') {
      if (src[i + 1] === '\n') {
        i += 2; // line continuation
        continue;
      }
      out += src.slice(i, i + 2);
      i += 2;
    } else if (c === "'") {
      const k = src.indexOf("'", i + 1);
      if (k < 0) {
        problems.push('a single quote is not closed');
        out += src.slice(i) + "'";
        i = n;
      } else {
        out += src.slice(i, k + 1);
        i = k + 1;
      }
    } else if (c === '"') {
      out += '"';
      i++;
      let closed = false;
      while (i < n) {
        const d = src[i]!;
        if (d === '\\') {
          out += src.slice(i, i + 2);
          i += 2;
        } else if (d === '"') {
          out += '"';
          i++;
          closed = true;
          break;
        } else if (d === '`') {
          i = backtick(i + 1);
        } else if (d === '$' && src[i + 1] === '(') {
          dollarParen();
        } else {
          out += d;
          i++;
        }
      }
      if (!closed) {
        problems.push('a double quote is not closed');
        out += '"';
      }
    } else if (c === '`') {
      i = backtick(i + 1);
    } else if (c === '$' && src[i + 1] === "'") {
      // ANSI-C quoting: shell-quote reads it; only find its end so nothing inside is misread.
      let j = i + 2;
      while (j < n && src[j] !== "'") j += src[j] === '\\' ? 2 : 1;
      if (j >= n) {
        problems.push("a $'…' quote is not closed");
        out += src.slice(i) + "'";
        i = n;
      } else {
        out += src.slice(i, j + 1);
        i = j + 1;
      }
    } else if (c === '$' && src[i + 1] === '(') {
      dollarParen();
    } else if ((c === '<' || c === '>') && src[i + 1] === '(') {
      const end = closeParen(i + 2);
      if (end < 0) {
        problems.push('a process substitution is not closed');
        i = n;
      } else {
        out += placeholder(src.slice(i + 2, end), 'process-substitution');
        i = end + 1;
      }
    } else if (c === '\n') {
      out += ' ; ';
      i++;
    } else if (c === '#' && atWordStart()) {
      while (i < n && src[i] !== '\n') i++;
    } else if (c === '<' && src[i + 1] === '<' && src[i + 2] !== '<') {
      problems.push('a here-document (<<) is not supported');
      out += '<<';
      i += 2;
    } else if (/[0-9]/.test(c) && atWordStart() && /^[0-9]+(>|<)/.test(src.slice(i))) {
      // `2>err`, `2>&1`: which descriptor is redirected does not matter to the policy, where does.
      while (/[0-9]/.test(src[i]!)) i++;
    } else if ((c === '>' || c === '<') && src[i + 1] === '&' && /^[0-9-]/.test(src[i + 2] ?? '')) {
      // `>&2`, `<&0`, `>&-`: duplicating or closing a descriptor writes no file.
      i += 2;
      while (i < n && /[0-9-]/.test(src[i]!)) i++;
    } else {
      out += c;
      i++;
    }
  }
  return { text: out, subs, problems };
}

function decomposeInto(command: string, origin: SimpleCommand['origin'], depth: number, out: CommandAnalysis): void {
  if (depth > MAX_DEPTH) {
    out.problems.push('commands are nested too deeply to check');
    return;
  }
  if (command.includes('\0')) {
    out.problems.push('the command contains a NUL byte');
    return;
  }
  const marker = `K${randomBytes(6).toString('hex')}K`;
  const s = scan(command, marker);
  out.problems.push(...s.problems);

  let entries: ParseEntry[];
  try {
    entries = shellParse(s.text, (key: string) => (/^\w+$/.test(key) ? `$${key}` : `\${${key}}`)) as ParseEntry[];
  } catch (e) {
    out.problems.push(`the shell parser could not read it (${(e as Error).message})`);
    return;
  }

  const subsByIndex = s.subs;
  const unmark = (tok: string): string =>
    tok.replace(new RegExp(`${marker}(\\d+|A)${marker}`, 'g'), (_m, idx: string) =>
      idx === 'A' ? '$((…))' : subsByIndex[Number(idx)]?.kind === 'process-substitution' ? '<(…)' : '$(…)',
    );
  const hasMarker = (tok: string): boolean => tok.includes(marker);

  // Split into simple commands at control operators.
  const SEPARATORS = new Set(['||', '&&', ';', ';;', ';&', ';;&', '|', '|&', '&', '(', ')']);
  const groups: { tokens: string[]; rawTokens: string[]; redirects: Redirect[] }[] = [];
  let cur = { tokens: [] as string[], rawTokens: [] as string[], redirects: [] as Redirect[] };
  let pendingRedirect: string | undefined;
  let hereString = false;
  const flush = (): void => {
    if (pendingRedirect) out.problems.push(`redirection '${pendingRedirect}' has no target`);
    pendingRedirect = undefined;
    if (cur.tokens.length || cur.redirects.length) groups.push(cur);
    cur = { tokens: [], rawTokens: [], redirects: [] };
  };
  for (const e of entries) {
    if (typeof e === 'object' && 'comment' in e) continue;
    if (typeof e === 'object' && 'op' in e && e.op !== 'glob') {
      const op = e.op as string;
      if (SEPARATORS.has(op)) {
        if (op === '(' && cur.tokens.length > 0) out.problems.push('a function definition or subshell in the middle of a command');
        flush();
        continue;
      }
      if (op === '<<<') {
        hereString = true;
        continue;
      }
      if (op === '<<' || op === '<<-') continue; // reported by the scanner
      pendingRedirect = op;
      continue;
    }
    const raw = typeof e === 'string' ? e : (e as { pattern: string }).pattern;
    if (hereString) {
      hereString = false; // the word after <<< is data on stdin, not a file
      continue;
    }
    if (pendingRedirect) {
      const op = pendingRedirect;
      pendingRedirect = undefined;
      const target = unmark(raw);
      if (hasMarker(raw) || raw.includes('$')) out.problems.push(`the redirection target '${target}' is only known at run time`);
      cur.redirects.push({
        op,
        target,
        write: op !== '<' && op !== '<&',
        read: op === '<' || op === '<>' || op === '<&',
      });
      continue;
    }
    cur.tokens.push(unmark(raw));
    cur.rawTokens.push(raw);
  }
  flush();

  let afterCd = false;
  for (const g of groups) {
    const before = out.parts.length;
    simplify(g.tokens, g.rawTokens, g.redirects, origin, depth, out, afterCd, hasMarker);
    for (const p of out.parts.slice(before)) {
      if (p.argv[0] === 'cd' || p.argv[0] === 'pushd' || p.argv[0] === 'popd') afterCd = true;
    }
  }

  for (const sub of s.subs) decomposeInto(sub.body, sub.kind, depth + 1, out);
}

const KEYWORDS_BEFORE = new Set(['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!', '{', 'time']);
const KEYWORDS_ALONE = new Set(['fi', 'done', '}', 'esac', 'else', 'then', 'do']);
const SHELLS = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'ash', 'fish', 'busybox']);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/** Options that take a value, per wrapper, so the value is not mistaken for the command. */
const WRAPPER_OPTS: Record<string, { withArg: Set<string>; positional?: number }> = {
  env: { withArg: new Set(['-u', '--unset', '-S', '--split-string']) },
  sudo: { withArg: new Set(['-u', '-g', '-h', '-p', '-C', '-D', '-r', '-t', '-U', '-T', '--user', '--group']) },
  doas: { withArg: new Set(['-u', '-C']) },
  timeout: { withArg: new Set(['-s', '-k', '--signal', '--kill-after']), positional: 1 },
  nice: { withArg: new Set(['-n', '--adjustment']) },
  ionice: { withArg: new Set(['-c', '-n', '-p', '-P', '-u', '--class', '--classdata']) },
  stdbuf: { withArg: new Set(['-i', '-o', '-e']) },
  nohup: { withArg: new Set() },
  time: { withArg: new Set(['-f', '-o']) },
  exec: { withArg: new Set(['-a']) },
  command: { withArg: new Set() },
  builtin: { withArg: new Set() },
  xargs: { withArg: new Set(['-I', '-L', '-n', '-P', '-s', '-d', '-E', '-a', '--arg-file', '--delimiter', '--max-args', '--max-procs', '--max-lines', '--replace']) },
};

function simplify(
  tokens: string[],
  rawTokens: string[],
  redirects: Redirect[],
  origin: SimpleCommand['origin'],
  depth: number,
  out: CommandAnalysis,
  afterCd: boolean,
  hasMarker: (t: string) => boolean,
): void {
  const problems: string[] = [];
  const wrappers: string[] = [];
  const assignments: string[] = [];
  let argv = [...tokens];
  let raw = [...rawTokens];
  let partOrigin = origin;
  let fromInput = false;
  const shift = (k = 1): void => {
    argv = argv.slice(k);
    raw = raw.slice(k);
  };

  while (argv.length && KEYWORDS_BEFORE.has(argv[0]!)) shift();
  if (argv.length === 1 && KEYWORDS_ALONE.has(argv[0]!)) argv = [];
  if (argv[0] === 'for' || argv[0] === 'select') argv = []; // `for x in a b` runs nothing itself
  if (argv[0] === 'case' || argv[0] === 'function' || argv[0] === 'coproc') {
    problems.push(`'${argv[0]}' blocks are not supported`);
  }

  for (let guard = 0; guard < 32 && argv.length; guard++) {
    while (argv.length && ASSIGNMENT.test(argv[0]!)) {
      assignments.push(argv[0]!.slice(0, argv[0]!.indexOf('=')));
      shift();
    }
    const prog = argv[0];
    if (prog === undefined) break;
    const spec = WRAPPER_OPTS[prog];
    if (prog === 'command' && (argv[1] === '-v' || argv[1] === '-V')) break; // a lookup, not a wrapper
    if (spec) {
      wrappers.push(prog);
      shift();
      let positional = spec.positional ?? 0;
      while (argv.length) {
        const a = argv[0]!;
        if (a === '--') {
          shift();
          break;
        }
        if (prog === 'env' && ASSIGNMENT.test(a)) break;
        if (a.startsWith('-') && a.length > 1) {
          if (prog === 'env' && (a === '-C' || a.startsWith('--chdir'))) problems.push('env -C changes the directory the command runs in');
          const name = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
          shift();
          if (spec.withArg.has(name) && !a.includes('=')) shift();
          continue;
        }
        if (prog === 'nice' && /^-?\d+$/.test(a)) {
          shift();
          continue;
        }
        if (positional > 0) {
          positional--;
          shift();
          continue;
        }
        break;
      }
      if (prog === 'xargs') {
        fromInput = true;
        partOrigin = 'xargs';
        if (argv.length === 0) {
          argv = ['echo'];
          raw = ['echo'];
        }
      }
      continue;
    }
    // `sh -c '…'`: the string is the command; check what is in it, not the shell.
    if (SHELLS.has(prog.replace(/^.*\//, '')) && argv.length >= 2) {
      const ci = argv.findIndex((a, k) => k > 0 && /^-[A-Za-z]*c[A-Za-z]*$/.test(a));
      if (ci > 0 && argv.slice(1, ci).every((a) => a.startsWith('-'))) {
        const script = argv[ci + 1];
        const rawScript = raw[ci + 1];
        if (script === undefined) problems.push(`'${prog} -c' has no command`);
        else if (hasMarker(rawScript!) || script.includes('$')) {
          problems.push(`'${prog} -c' runs a string that is only known at run time`);
        } else {
          for (const r of redirects) pushRedirectOnly(r);
          decomposeInto(script, 'shell -c', depth + 1, out);
          if (!problems.length) return;
        }
      }
    }
    if (prog === 'eval') {
      const rest = argv.slice(1);
      if (raw.slice(1).some((t) => hasMarker(t) || t.includes('$'))) problems.push('eval of a string only known at run time');
      else {
        decomposeInto(rest.join(' '), 'eval', depth + 1, out);
        argv = [];
      }
    }
    break;
  }

  function pushRedirectOnly(r: Redirect): void {
    out.parts.push({ text: '', argv: [], wrappers: [], assignments: [], redirects: [r], origin, afterCd, problems: [] });
  }

  // find … -exec cmd … ; runs cmd once per file.
  if (argv[0] === 'find') {
    for (let k = 1; k < argv.length; k++) {
      if (['-exec', '-execdir', '-ok', '-okdir'].includes(argv[k]!)) {
        let end = k + 1;
        while (end < argv.length && argv[end] !== ';' && argv[end] !== '+') end++;
        const inner = argv.slice(k + 1, end).map((t) => (t === '{}' ? '…' : t));
        const innerRaw = raw.slice(k + 1, end);
        if (inner.length) simplify(inner, innerRaw, [], 'find -exec', depth + 1, out, afterCd, hasMarker);
        k = end;
      }
    }
  }

  if (argv.length) {
    const prog = argv[0]!;
    if (hasMarker(raw[0]!) || prog.includes('$')) problems.push(`the program to run ('${prog}') is only known at run time`);
  }
  const shown = fromInput ? [...argv, '…'] : argv;
  out.parts.push({
    text: renderTokens(shown),
    argv,
    wrappers,
    assignments,
    redirects,
    origin: partOrigin,
    afterCd,
    problems,
  });
}
