/**
 * Reads the options of a program that runs another command (`timeout -s KILL 5 cmd`, `env -i -u X
 * cmd`), to find where that command starts. An option it does not know might take a value, so the
 * command's position would be a guess: that is reported as a problem, never guessed.
 */
export interface OptionSpec {
  /** Short options without a value, as letters: 'pv' for `-p`, `-v`. */
  flags?: string;
  /** Short options that take a value, glued (`-n5`) or as the next word (`-n 5`). */
  values?: string;
  /** Long options without a value (`--foreground`); `--opt=value` is always accepted for these too. */
  long?: readonly string[];
  /** Long options that take a value (`--signal KILL` or `--signal=KILL`). */
  longValues?: readonly string[];
  /** Words after the options and before the command (`timeout DURATION cmd`). */
  positional?: number;
  /** `nice -10 cmd`: a bare negative number is an option. */
  numeric?: boolean;
  /** `env A=1 cmd`, `sudo A=1 cmd`: assignments may come before the command. */
  assignments?: boolean;
  /** Options are not known one by one; every `-x` / `--x=y` is taken to have no separate value. */
  lenient?: boolean;
}

export interface OptionScan {
  /** Index of the first word of the command (argv.length when there is none). */
  next: number;
  /** Values of the options seen, by option as written (`-S`, `--chdir`). */
  values: Map<string, string[]>;
  /** Index of the word holding each option's value, for options whose value is a script. */
  valueAt: Map<string, number>;
  assignments: string[];
  problems: string[];
}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

export function scanOptions(program: string, argv: readonly string[], literal: readonly boolean[], from: number, spec: OptionSpec): OptionScan {
  const scan: OptionScan = { next: from, values: new Map(), valueAt: new Map(), assignments: [], problems: [] };
  const record = (opt: string, value: string | undefined, at: number): void => {
    if (value === undefined) {
      scan.problems.push(`'${program} ${opt}' has no value`);
      return;
    }
    scan.values.set(opt, [...(scan.values.get(opt) ?? []), value]);
    scan.valueAt.set(opt, at);
  };
  let positional = spec.positional ?? 0;
  let i = from;
  while (i < argv.length) {
    const a = argv[i]!;
    if (!literal[i]) {
      // `timeout $OPTS curl x`: whether this is an option, a value or the command is a run-time matter
      scan.problems.push(`'${program}' has an argument only known at run time where an option or the command to run is expected`);
      break;
    }
    if (a === '--') {
      i++;
      break;
    }
    // env (and sudo) take any word with '=' before the command as an assignment, whatever its name
    if (spec.assignments && (ASSIGNMENT.test(a) || (!a.startsWith('-') && a.indexOf('=') > 0))) {
      scan.assignments.push(a.slice(0, a.indexOf('=')));
      i++;
      continue;
    }
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a : a.slice(0, eq);
      if (spec.longValues?.includes(name)) {
        if (eq >= 0) record(name, a.slice(eq + 1), i);
        else {
          record(name, argv[i + 1], i + 1);
          i++;
        }
      } else if (!spec.long?.includes(name) && !spec.lenient) {
        scan.problems.push(`'${program}' option '${name}' is not known, so the command it runs cannot be told apart from its options`);
        i = argv.length;
        break;
      }
      i++;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      if (spec.numeric && /^-\d+$/.test(a)) {
        i++;
        continue;
      }
      let consumedNext = false;
      let unknown = false;
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        if (spec.values?.includes(c)) {
          const glued = a.slice(j + 1);
          if (glued) record(`-${c}`, glued, i);
          else {
            record(`-${c}`, argv[i + 1], i + 1);
            consumedNext = true;
          }
          break;
        }
        if (!spec.flags?.includes(c) && !spec.lenient) {
          unknown = true;
          break;
        }
      }
      if (unknown) {
        scan.problems.push(`'${program}' option '${a}' is not known, so the command it runs cannot be told apart from its options`);
        i = argv.length;
        break;
      }
      i += consumedNext ? 2 : 1;
      continue;
    }
    if (positional > 0) {
      positional--;
      i++;
      continue;
    }
    break;
  }
  scan.next = Math.min(i, argv.length);
  return scan;
}
