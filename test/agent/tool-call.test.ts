import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHooks } from '../../src/agent/hooks.js';
import { runToolCall, type ToolCallContext } from '../../src/agent/tool-call.js';
import { evaluateStep } from '../../src/policy/layers.js';
import { allow } from '../../src/policy/decision.js';
import { compileRules } from '../../src/policy/permission.js';
import { GateConfig } from '../../src/policy/gate.js';
import { NO_SANDBOX } from '../../src/policy/sandbox.js';
import { readFile, writeFile } from '../../src/agent/tools/files.js';
import { tempDir } from '../support/temp.js';
import { connectMcpServers } from '../../src/agent/mcp-client.js';
import { COMPILED, REPO_ROOT } from '../support/paths.js';
import { ensureBashGrammar } from '../../src/policy/shell-grammar.js';

// The layers read commands with the bash grammar, which loads on first use (an agent task awaits it the same way).
// A hook, not a top-level await: run-tests.mjs runs many files in one process, and code after a
// top-level await of a promise another file created would register its tests outside this file.
before(() => ensureBashGrammar());

const tmp = tempDir('kairos-toolcall-');
after(() => tmp.cleanup());
const work = path.join(tmp.dir, 'work');
fs.mkdirSync(path.join(work, 'src'), { recursive: true });
fs.writeFileSync(path.join(work, 'src/a.ts'), 'export const a = 1;\n');

function context(hooks: Record<string, unknown> | undefined, permissions = { allow: ['Read', 'Edit', 'Write'] }): ToolCallContext & { ran: string[] } {
  const ran: string[] = [];
  const scope = { root: work, maxReadBytes: 100_000 };
  return {
    ran,
    repo: work,
    worktree: work,
    taskId: 1,
    trigger: 't',
    maxToolOutput: 10_000,
    hooks: hooks ? createHooks({ sources: [{ label: 'test', trusted: true, hooks }], projectDir: work, sessionId: 's', defaultTimeoutSec: 1, killGraceMs: 100 }) : undefined,
    evaluate: (step) =>
      evaluateStep(
        step,
        { now: new Date(), home: tmp.dir, kairosHome: path.join(tmp.dir, 'kh'), rules: compileRules(permissions), gate: { config: GateConfig.parse({}), state: { recentStarts: [], paused: false } }, sandbox: NO_SANDBOX, attended: false },
        { trust: () => allow(), spend: () => allow() },
      ),
    execute: async (name, input) => {
      ran.push(`${name} ${JSON.stringify(input)}`);
      if (name === 'read_file') return { text: await readFile(scope, input as never) };
      if (name === 'write_file') return { text: await writeFile(scope, input as never) };
      return { text: 'ok' };
    },
  };
}

const hook = (event: string, command: string, matcher = '') => ({ [event]: [{ matcher, hooks: [{ type: 'command', command }] }] });

describe('tool calls through hooks and policy', () => {
  test('a PreToolUse hook exiting 2 blocks the tool and the model sees its stderr', async () => {
    const ctx = context(hook('PreToolUse', "echo 'no writes to src today' >&2; exit 2", 'Write'));
    const r = await runToolCall(ctx, 'write_file', { path: 'src/b.ts', content: 'x' }, 'tu1');
    assert.equal(r.isError, true);
    assert.match(r.content, /blocked by a PreToolUse hook: no writes to src today/);
    assert.deepEqual(ctx.ran, [], 'the tool did not run');
    assert.equal(fs.existsSync(path.join(work, 'src/b.ts')), false);
  });

  test('updatedInput rewrites the input, which is validated and checked by the policy again', async () => {
    const rewrite = `echo '{"hookSpecificOutput":{"hookEventName":"PreToolUse","updatedInput":{"path":"src/a.ts"}}}'`;
    const ctx = context(hook('PreToolUse', rewrite, 'Read'));
    const r = await runToolCall(ctx, 'read_file', { path: 'src/missing.ts' }, 'tu2');
    assert.equal(r.isError, false, r.content);
    assert.match(r.content, /export const a = 1/);
    const escape = `echo '{"hookSpecificOutput":{"hookEventName":"PreToolUse","updatedInput":{"path":"../../etc/passwd"}}}'`;
    const bad = await runToolCall(context(hook('PreToolUse', escape, 'Read')), 'read_file', { path: 'src/a.ts' }, 'tu3');
    assert.equal(bad.isError, true);
    assert.match(bad.content, /denied by the validate layer/, 'a hook cannot rewrite a call out of the worktree');
  });

  test('a hanging hook times out and the call goes on', async () => {
    const ctx = context(hook('PreToolUse', 'sleep 30', 'Read'));
    const started = Date.now();
    const r = await runToolCall(ctx, 'read_file', { path: 'src/a.ts' }, 'tu4');
    assert.equal(r.isError, false, r.content);
    assert.ok(Date.now() - started < 20_000, 'the hook was not waited for');
  });

  test('a PostToolUse hook’s context reaches the model', async () => {
    const ctx = context(hook('PostToolUse', `echo '{"hookSpecificOutput":{"hookEventName":"PostToolUse","additionalContext":"prettier reformatted it"}}'`, 'Write'));
    const r = await runToolCall(ctx, 'write_file', { path: 'src/c.ts', content: 'x' }, 'tu5');
    assert.match(r.content, /hook context: prettier reformatted it/);
  });

  test('invalid input, unknown tools and policy asks are results, not crashes', async () => {
    const ctx = context(undefined, { allow: [] });
    assert.match((await runToolCall(ctx, 'edit_file', { path: 'src/a.ts' }, 'x')).content, /invalid input for edit_file/);
    assert.match((await runToolCall(ctx, 'rm_rf', {}, 'x')).content, /unknown tool 'rm_rf'/);
    const ask = await runToolCall(ctx, 'write_file', { path: 'src/d.ts', content: 'x' }, 'x');
    assert.match(ask.content, /not run: needs a human's approval/);
    assert.deepEqual(ctx.ran, []);
  });

  test('a hook allow settles a permission ask, but never a protected path', async () => {
    const allowAll = `echo '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow"}}'`;
    const ctx = context(hook('PreToolUse', allowAll), { allow: [] });
    const r = await runToolCall(ctx, 'write_file', { path: 'src/e.ts', content: 'x' }, 'x');
    assert.equal(r.isError, false, r.content);
    const prot = await runToolCall(ctx, 'write_file', { path: '.git/hooks/pre-commit', content: 'curl x | sh' }, 'x');
    assert.equal(prot.isError, true);
    assert.equal(fs.existsSync(path.join(work, '.git/hooks/pre-commit')), false);
  });
});

describe('MCP tools in the loop', () => {
  test('an MCP tool call passes the permission layer like any tool, and its output comes back fenced', async () => {
    const file = COMPILED ? path.join(REPO_ROOT, 'dist/test/support/mcp-fixture-server.js') : path.join(REPO_ROOT, 'test/support/mcp-fixture-server.ts');
    const loader = COMPILED ? [] : ['--import', import.meta.resolve('tsx')];
    const box = await connectMcpServers({ fixture: { command: process.execPath, args: [...loader, file, 'stdio'] } }, { cwd: work });
    try {
      assert.ok(box.has('mcp__fixture__echo'));
      const asked = { ...context(undefined, { allow: [] }), external: box };
      const r1 = await runToolCall(asked, 'mcp__fixture__echo', { text: 'hi' }, 'm1');
      assert.match(r1.content, /not run: needs a human's approval/);
      const allowed = { ...context(undefined, { allow: ['mcp__fixture__echo'] } as never), external: box };
      const r2 = await runToolCall(allowed, 'mcp__fixture__echo', { text: 'hi' }, 'm2');
      assert.equal(r2.isError, false, r2.content);
      assert.match(r2.content, /untrusted-data source="output of mcp__fixture__echo"/);
      assert.match(r2.content, /echo: hi/);
      const r3 = await runToolCall(allowed, 'mcp__fixture__add', { a: 1, b: 2 }, 'm3');
      assert.match(r3.content, /not run: needs a human's approval/, 'allowing one tool of a server does not allow the others');
    } finally {
      await box.close();
    }
  });
});
