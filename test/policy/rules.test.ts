import { test, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseRule, parseToolCall, ruleMatchesPath, RuleSyntaxError, toolCallFor, type PathTarget } from '../../src/policy/rules.js';
import { compileRules } from '../../src/policy/permission.js';
import { decomposeCommand } from '../../src/policy/shell.js';
import { ensureBashGrammar } from '../../src/policy/shell-grammar.js';

// The layers read commands with the bash grammar, which loads on first use (an agent task awaits it the same way).
// A hook, not a top-level await: run-tests.mjs runs many files in one process, and code after a
// top-level await of a promise another file created would register its tests outside this file.
before(() => ensureBashGrammar());

describe('rule parsing', () => {
  test('tool, tool(specifier), bare and (*) forms', () => {
    assert.deepEqual(parseRule('Bash'), { text: 'Bash', tool: 'Bash' });
    assert.deepEqual(parseRule('Bash(*)'), { text: 'Bash(*)', tool: 'Bash' });
    assert.deepEqual(parseRule('Bash(npm test)'), { text: 'Bash(npm test)', tool: 'Bash', specifier: 'npm test' });
    assert.deepEqual(parseRule('mcp__github__get_issue'), { text: 'mcp__github__get_issue', tool: 'mcp__github__get_issue' });
  });
  for (const bad of ['', 'Bash(', 'Bash()', '(npm test)', 'mcp__x(y)', 'Read([abc)']) {
    test(`rejects ${JSON.stringify(bad)} with a fix`, () => assert.throws(() => parseRule(bad), (e: Error) => e instanceof RuleSyntaxError && /—|write|check/.test(e.message)));
  }
  test('compileRules names the list and index of a bad rule', () => {
    assert.throws(() => compileRules({ allow: ['Bash(ok)', 'Bash()'] }), /permissions\.allow\[1\]/);
  });
  test('Kairos tool names map to rule tools', () => {
    assert.deepEqual(toolCallFor('read_file', { path: 'a' }), { tool: 'Read', path: 'a' });
    assert.deepEqual(toolCallFor('grep', { pattern: 'x' }), { tool: 'Read', path: '.' });
    assert.deepEqual(toolCallFor('edit_file', { path: 'a' }), { tool: 'Edit', path: 'a' });
    assert.deepEqual(toolCallFor('write_file', { path: 'a' }), { tool: 'Write', path: 'a' });
    assert.deepEqual(toolCallFor('run_command', { command: 'ls' }), { tool: 'Bash', command: 'ls' });
    assert.deepEqual(toolCallFor('mcp__gh__create_pr', {}), { tool: 'mcp', server: 'gh', name: 'create_pr' });
    assert.deepEqual(parseToolCall('Read(src/a.ts)'), { tool: 'Read', path: 'src/a.ts' });
  });
});

describe('path rules (gitignore style)', () => {
  const home = '/home/u';
  const t = (rel: string | null, abs: string): PathTarget => ({ rel, abs });
  const m = (rule: string, target: PathTarget, tool: 'Read' | 'Edit' | 'Write' = 'Read') => ruleMatchesPath(parseRule(rule), tool, target, home);
  test('a pattern without a slash matches at any depth', () => {
    assert.ok(m('Read(*.env)', t('a/b/prod.env', '/r/a/b/prod.env')));
    assert.ok(m('Read(.env)', t('.env', '/r/.env')));
    assert.ok(m('Read(.env)', t('pkg/.env', '/r/pkg/.env')));
  });
  test('a leading / or ./ anchors at the root', () => {
    assert.ok(m('Read(/src/**)', t('src/a.ts', '/r/src/a.ts')));
    assert.ok(!m('Read(/src/**)', t('lib/src/a.ts', '/r/lib/src/a.ts')));
    assert.ok(m('Read(./README.md)', t('README.md', '/r/README.md')));
    assert.ok(!m('Read(./README.md)', t('docs/README.md', '/r/docs/README.md')));
  });
  test('a directory covers what is inside it', () => {
    assert.ok(m('Read(secrets)', t('secrets/a/b.txt', '/r/secrets/a/b.txt')));
    assert.ok(m('Read(build/)', t('build/out.js', '/r/build/out.js')));
  });
  test('//absolute and ~/home patterns match absolute paths', () => {
    assert.ok(m('Read(//etc/**)', t(null, '/etc/passwd')));
    assert.ok(m('Read(~/.ssh/**)', t(null, '/home/u/.ssh/id_rsa')));
    assert.ok(!m('Read(~/.ssh/**)', t(null, '/home/other/.ssh/id_rsa')));
    assert.ok(!m('Read(src/**)', t(null, '/elsewhere/src/a.ts')), 'relative rules never match outside the root');
  });
  test('Edit and Write rules cover both writing tools, never Read', () => {
    assert.ok(m('Edit(docs/**)', t('docs/a.md', '/r/docs/a.md'), 'Write'));
    assert.ok(m('Write(docs/**)', t('docs/a.md', '/r/docs/a.md'), 'Edit'));
    assert.ok(!m('Edit(docs/**)', t('docs/a.md', '/r/docs/a.md'), 'Read'));
    assert.ok(!m('Read(docs/**)', t('docs/a.md', '/r/docs/a.md'), 'Edit'));
  });
});

describe('shell decomposition', () => {
  test('a wrapped command is a part of its own, after the command that runs it', () => {
    const a = decomposeCommand('sudo env A=1 timeout 5 npm test > out.log 2>&1');
    assert.deepEqual(a.parts.map((p) => p.text), ['sudo env A=1 timeout 5 npm test', 'env A=1 timeout 5 npm test', 'timeout 5 npm test', 'npm test']);
    const inner = a.parts[3]!;
    assert.deepEqual(inner.wrappers, ['sudo', 'env', 'timeout']);
    assert.deepEqual(a.parts[2]!.assignments, ['A'], 'env A=1 sets A for what it runs');
    assert.deepEqual(inner.via, { part: 2, offset: 10, needed: 13, suffix: true });
    // the shell opens out.log before sudo runs: the redirection belongs to the outermost command
    assert.deepEqual(a.parts[0]!.redirects.map((r) => [r.op, r.target, r.write]), [['>', 'out.log', true]]);
    assert.deepEqual(inner.redirects, []);
  });
  test('substitutions become their own parts, with their origin', () => {
    const a = decomposeCommand('echo "$(date)" `whoami` <(ls)');
    assert.deepEqual(a.parts.map((p) => [p.text, p.origin]), [
      ['echo $(…) $(…) <(…)', 'top'],
      ['date', 'substitution'],
      ['whoami', 'substitution'],
      ['ls', 'process-substitution'],
    ]);
  });
  test('a forged placeholder in the text is just text', () => {
    const a = decomposeCommand('echo K000000000000K0K');
    assert.deepEqual(a.parts.map((p) => p.text), ['echo K000000000000K0K']);
  });
  test('nesting too deep is a problem, not a crash', () => {
    const deep = 'echo ' + '$('.repeat(12) + 'x' + ')'.repeat(12);
    assert.ok(decomposeCommand(deep).problems.some((p) => /nested too deeply/.test(p)));
  });
});
