// The bash grammar's loading (and failing closed without it), and the pieces of word evaluation.
import { test, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureBashGrammar, loadBashGrammar } from '../../src/policy/shell-grammar.js';
import { decomposeCommand } from '../../src/policy/shell.js';
import { decodeAnsiC } from '../../src/policy/shell-words.js';
import { expandBraces, type Atom } from '../../src/policy/shell-brace.js';
import { sedExecutes } from '../../src/policy/shell-programs.js';

const here = path.dirname(fileURLToPath(import.meta.url));

// The word-evaluation tests below read commands with the grammar, which loads on first use.
// A hook, not a top-level await: run-tests.mjs runs many files in one process, and code after a
// top-level await of a promise another file created would register its tests outside this file.
before(() => ensureBashGrammar());

describe('grammar loading', () => {
  test('a grammar that does not load is an error, and every command is a problem', async () => {
    const broken = await loadBashGrammar(path.join(os.tmpdir(), 'no-such-grammar.wasm'));
    assert.equal(broken.ok, false);
    const a = decomposeCommand('ls', broken);
    assert.deepEqual(a.parts, []);
    assert.match(a.problems[0] ?? '', /bash grammar could not be loaded .*so no command can be checked/);
  });

  test('without the grammar file, the real layers ask for every command, saying why', () => {
    // A process in which resolving tree-sitter-bash's .wasm gives a missing file: the real loader fails.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-nogrammar-'));
    try {
      const preload = path.join(dir, 'break-grammar.cjs');
      fs.writeFileSync(
        preload,
        `const M = require('module'); const orig = M._resolveFilename;
         M._resolveFilename = function (req, ...rest) { return req === 'tree-sitter-bash/tree-sitter-bash.wasm' ? '${dir}/missing.wasm' : orig.call(this, req, ...rest); };`,
      );
      const script = `
        const { evaluateStep } = await import(${JSON.stringify(path.join(here, '../../src/policy/layers.js'))});
        const { ensureBashGrammar } = await import(${JSON.stringify(path.join(here, '../../src/policy/shell-grammar.js'))});
        await ensureBashGrammar();
        const { makeContext, allowOthers } = await import(${JSON.stringify(path.join(here, 'policy-context.js'))});
        const ctx = makeContext({ permissions: { allow: ['Bash(*)', 'Bash(npm  test)'], deny: ['Bash(curl:*)'] } });
        const ev = evaluateStep({ repo: ${JSON.stringify(dir)}, origin: 'agent', action: { type: 'tool', call: { tool: 'Bash', command: 'ls' } } }, ctx, allowOthers);
        process.stdout.write(JSON.stringify(ev.verdict));`;
      const r = spawnSync(process.execPath, ['--require', preload, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      const v = JSON.parse(r.stdout) as { decision: string; reason: string };
      assert.equal(v.decision, 'ask');
      assert.match(v.reason, /bash grammar could not be loaded/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the grammar loads on first use: not at import, and a check before it is loaded asks, saying why', () => {
    const script = `
      const { evaluateStep } = await import(${JSON.stringify(path.join(here, '../../src/policy/layers.js'))});
      const grammar = await import(${JSON.stringify(path.join(here, '../../src/policy/shell-grammar.js'))});
      const { makeContext, allowOthers } = await import(${JSON.stringify(path.join(here, 'policy-context.js'))});
      const ctx = makeContext({ permissions: { allow: ['Bash(ls)'] } });
      const step = { repo: process.cwd(), origin: 'agent', action: { type: 'tool', call: { tool: 'Bash', command: 'ls' } } };
      const loadedAtImport = grammar.bashGrammarLoaded();
      const before = evaluateStep(step, ctx, allowOthers).verdict;
      const state = await grammar.ensureBashGrammar();
      const after = evaluateStep(step, ctx, allowOthers).verdict;
      process.stdout.write(JSON.stringify({ loadedAtImport, before, ok: state.ok, loaded: grammar.bashGrammarLoaded(), after }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { loadedAtImport: boolean; before: { decision: string; reason: string }; ok: boolean; loaded: boolean; after: { decision: string } };
    assert.equal(out.loadedAtImport, false);
    assert.equal(out.before.decision, 'ask');
    assert.match(out.before.reason, /bash grammar was not loaded before this check/);
    assert.equal(out.ok, true);
    assert.equal(out.loaded, true);
    assert.equal(out.after.decision, 'allow');
  });
});

describe('word evaluation', () => {
  test("$'…' escapes", () => {
    assert.equal(decodeAnsiC('\\x63url'), 'curl');
    assert.equal(decodeAnsiC('a\\tb\\n'), 'a\tb\n');
    assert.equal(decodeAnsiC('\\143\\165rl'), 'cu' + 'rl');
    assert.equal(decodeAnsiC('\\u0063\\U00000075'), 'cu');
    assert.equal(decodeAnsiC("it\\'s \\q"), "it's \\q");
    assert.equal(decodeAnsiC('\\cA'), '\x01');
  });

  // oxlint-disable-next-line typescript/no-misused-spread -- one atom per code point, as shell-brace.ts makes them
  const word = (s: string): Atom[] => [...s].map((ch) => ({ text: ch, special: '{,}'.includes(ch) }));
  const expand = (s: string): string[] => expandBraces(word(s)).map((w) => w.map((a) => a.text).join(''));
  test('brace expansion as bash does it', () => {
    assert.deepEqual(expand('{rm,-rf,/tmp/x}'), ['rm', '-rf', '/tmp/x']);
    assert.deepEqual(expand('a{b,c}d'), ['abd', 'acd']);
    assert.deepEqual(expand('{a,b}{1,2}'), ['a1', 'a2', 'b1', 'b2']);
    assert.deepEqual(expand('x{1..3}'), ['x1', 'x2', 'x3']);
    assert.deepEqual(expand('{01..03}'), ['01', '02', '03']);
    assert.deepEqual(expand('{c..a}'), ['c', 'b', 'a']);
    assert.deepEqual(expand('{1..10..4}'), ['1', '5', '9']);
    assert.deepEqual(expand('{a{b,c},d}'), ['ab', 'ac', 'd']);
    assert.deepEqual(expand('{a}'), ['{a}'], 'no comma, no sequence: text');
    assert.deepEqual(expand('{a,b'), ['{a,b'], 'not closed: text');
    assert.throws(() => expand('{1..100000}'), /more than 256 words/);
  });

  test('quoted braces do not expand; the parsed command shows the words bash passes', () => {
    assert.deepEqual(decomposeCommand('echo "{a,b}" \\{c,d\\} {e,f}').parts[0]!.argv, ['echo', '{a,b}', '{c,d}', 'e', 'f']);
    assert.deepEqual(decomposeCommand("c''u\"r\"l $'\\x20'x").parts[0]!.argv, ['curl', ' x']);
  });

  test("sed's e command and flag", () => {
    assert.ok(sedExecutes('s/x/y/e'));
    assert.ok(sedExecutes('1e id'));
    assert.ok(sedExecutes('s|a;b|c|ge'));
    assert.ok(sedExecutes('/re/ { e id\n}'));
    assert.ok(!sedExecutes('s/a/b/g'));
    assert.ok(!sedExecutes('1,5p'));
    assert.ok(!sedExecutes('s/e/E/'));
    assert.ok(!sedExecutes('y/abc/xyz/'));
  });
});

describe('reading commands as bash does', () => {
  const texts = (c: string): string[] => decomposeCommand(c).parts.map((p) => p.text);
  test('a backslash-newline inside a word joins it; inside single quotes or a comment it does not', () => {
    assert.deepEqual(texts('cu\\\nrl x'), ['curl x']);
    assert.deepEqual(texts("echo 'a\\\nb'"), ["echo 'a\\\nb'"]);
    assert.deepEqual(texts('echo a # c \\\ncurl y'), ['echo a', 'curl y']);
  });
  test('a { glued to a word is a word', () => {
    assert.deepEqual(texts('{rm,-rf,x}'), ['rm -rf x']);
    assert.deepEqual(texts('{ ls; }'), ['ls']);
  });
  test('time and coproc before a group', () => {
    assert.deepEqual(texts('time { curl x; }'), ['curl x']);
    assert.deepEqual(texts('coproc { curl x; }'), ['curl x']);
    assert.deepEqual(texts('time -p curl x'), ['time -p curl x', 'curl x']);
  });
  test('every part records the command that runs it', () => {
    const a = decomposeCommand('sh -c "timeout 5 npm test"');
    assert.deepEqual(a.parts.map((p) => [p.text, p.origin, p.via?.part]), [
      ["sh -c 'timeout 5 npm test'", 'top', undefined],
      ['timeout 5 npm test', 'shell -c', 0],
      ['npm test', 'wrapper', 1],
    ]);
  });
});
