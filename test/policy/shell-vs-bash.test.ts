// The hostile table against real bash: every command the table expects the deny-list policy to
// allow is run by bash (in bubblewrap, with no PATH, so no program actually starts), and every
// program bash tries to start is logged by its command_not_found_handle. None of them may be one
// a deny rule names. Commands the table denies are run too, to show the log does catch them.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { compileRules } from '../../src/policy/permission.js';
import { ruleMatchesCommand } from '../../src/policy/rules.js';
import { renderTokens } from '../../src/policy/shell-words.js';
import { CONTEXTS, GROUPS } from './hostile-commands.js';
import { ensureBashGrammar } from '../../src/policy/shell-grammar.js';

// The layers read commands with the bash grammar, which loads on first use (an agent task awaits it the same way).
await ensureBashGrammar();

const bash = ['/usr/bin/bash', '/bin/bash'].find((p) => fs.existsSync(p));
const bwrap = ['/usr/bin/bwrap', '/bin/bwrap'].find((p) => fs.existsSync(p));
const skip = !bash || !bwrap || process.platform !== 'linux' ? 'needs bash and bubblewrap on Linux' : false;

type Permissions = { allow?: string[]; ask?: string[]; deny?: string[] };
const deniedBy = (argv: string[], permissions: Permissions = CONTEXTS.denylist.permissions): string | undefined => {
  const base = argv[0]!.slice(argv[0]!.lastIndexOf('/') + 1);
  const texts = [renderTokens(argv), renderTokens([base, ...argv.slice(1)])];
  return compileRules(permissions).deny.find((r) => texts.some((t) => ruleMatchesCommand(r, t)))?.text;
};

describe('the table against real bash', { skip }, () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-vs-bash-'));
    // bash calls this for every program it cannot find: with no PATH, that is every program
    fs.writeFileSync(
      path.join(dir, 'env.sh'),
      `command_not_found_handle() { { local a; for a in "$@"; do printf '%s\\0' "$a"; done; printf '\\036'; } >> "$KAIROS_RAN"; return 127; }\n`,
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The programs bash tried to start, each as its argv. */
  const run = (command: string): string[][] => {
    const log = path.join(dir, 'ran.log');
    fs.writeFileSync(log, '');
    const r = spawnSync(
      bwrap!,
      [
        '--ro-bind', '/', '/', '--tmpfs', '/tmp', '--bind', dir, '/tmp/kairos', '--dev', '/dev', '--unshare-all', '--die-with-parent',
        '--chdir', '/tmp', '--clearenv', '--setenv', 'PATH', '/nonexistent', '--setenv', 'HOME', '/tmp',
        '--setenv', 'BASH_ENV', '/tmp/kairos/env.sh', '--setenv', 'KAIROS_RAN', '/tmp/kairos/ran.log',
        bash!, '-c', command,
      ],
      // stdin from /dev/null: with a socket on stdin, bash takes itself for an sshd session and skips BASH_ENV
      { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 20_000 },
    );
    assert.notEqual(r.error?.message.includes('ETIMEDOUT'), true, `${command}: bash did not finish`);
    return fs
      .readFileSync(log, 'utf8')
      .split('\x1e')
      .filter(Boolean)
      .map((rec) => rec.split('\0').slice(0, -1));
  };

  test('the log catches what bash runs (issue 10: each of these ran curl or rm)', () => {
    for (const c of ['time -p curl x', '{rm,-rf,/tmp/x}', 'cat <<< "$(curl x)"', 'echo $((1+$(curl x)))']) {
      const ran = run(c);
      assert.ok(ran.some((argv) => deniedBy(argv)), `${c}: bash ran ${JSON.stringify(ran)}`);
    }
  });

  // every context whose rules deny commands: the allowed commands of its groups
  const allowed = GROUPS.flatMap((g) => {
    const permissions = CONTEXTS[g.context].permissions;
    return permissions === 'shipped' ? [] : g.cases.filter(([, v]) => v === 'allow').map(([c]) => ({ c, permissions }));
  });
  test(`no command the table allows makes bash run a denied program (${allowed.length} commands)`, () => {
    assert.ok(allowed.length >= 90, `only ${allowed.length}`);
    for (const { c, permissions } of allowed) {
      for (const argv of run(c)) assert.equal(deniedBy(argv, permissions), undefined, `${JSON.stringify(c)} is allowed, but bash ran ${JSON.stringify(argv)}`);
    }
  });
});
