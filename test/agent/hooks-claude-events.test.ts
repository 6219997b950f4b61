import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHooks, HookConfigError, type HookSource, type HooksConfig } from '../../src/agent/hooks.js';
import { buildRegistry } from '../../src/agent/hooks/registry.js';

/**
 * Claude Code's hook features Kairos takes as they are: a handler's `if` rule, systemMessage for
 * the user, FileChanged with its files, UserPromptSubmit, PermissionRequest and the subagent events.
 * Real settings, real shell processes; each hook appends the JSON it got to a file, so a test sees
 * exactly which hooks ran and with what.
 */

let root: string;
let n = 0;
before(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-hooks-claude-')));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

function project(): { dir: string; log: string; seen(): Array<Record<string, unknown>> } {
  const dir = path.join(root, `p${++n}`);
  fs.mkdirSync(dir, { recursive: true });
  const log = path.join(dir, 'seen.jsonl');
  return {
    dir,
    log,
    seen: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : []),
  };
}

/** A hook command that records its stdin (one JSON line) and then runs `then`. */
const record = (log: string, then = 'true') => `(cat; echo) >> '${log}'; ${then}`;

function hooksFor(dir: string, hooks: unknown, extra: Partial<HooksConfig> = {}) {
  const sources: HookSource[] = [{ label: path.join(dir, 'hooks.json'), trusted: true, hooks }];
  return createHooks({ sources, projectDir: dir, workDir: dir, sessionId: 's1', ...extra });
}

describe('if conditions', () => {
  test('a commit-only hook runs for git commit (also inside a compound command), never for npm test', async () => {
    const p = project();
    const h = hooksFor(p.dir, { PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', if: 'Bash(git commit:*)', command: record(p.log) }] }] });
    const fire = (command: string) => h.fire('PreToolUse', { tool_name: 'run_command', tool_input: { command } });
    assert.equal((await fire('npm test')).runs.length, 0);
    assert.equal((await fire('git commits')).runs.length, 0, 'a word boundary, as in permission rules');
    assert.equal((await fire('git commit -m "x"')).runs.length, 1);
    assert.equal((await fire('npm test && git commit -am wip')).runs.length, 1, 'any command of the line');
    // Like Claude Code, a command line that cannot be parsed runs the hook (fails open).
    assert.equal((await fire('echo "unterminated')).runs.length, 1);
    assert.deepEqual(
      p.seen().map((s) => (s.tool_input as { command: string }).command),
      ['git commit -m "x"', 'npm test && git commit -am wip', 'echo "unterminated'],
    );
  });

  test('path rules: Edit(src/**) covers both writing tools; Read covers grep and list_files', async () => {
    const p = project();
    fs.mkdirSync(path.join(p.dir, 'src'));
    const h = hooksFor(p.dir, {
      PreToolUse: [
        { matcher: 'Edit|Write', hooks: [{ type: 'command', if: 'Edit(src/**)', command: record(p.log, 'echo edit') }] },
        { hooks: [{ type: 'command', if: 'Read(docs/**)', command: record(p.log, 'echo read') }] },
        { hooks: [{ type: 'command', if: 'Grep', command: record(p.log, 'echo grep') }] },
      ],
    });
    assert.equal((await h.fire('PreToolUse', { tool_name: 'edit_file', tool_input: { path: 'src/a.ts', old: 'a', new: 'b' } })).runs.length, 1);
    assert.equal((await h.fire('PreToolUse', { tool_name: 'write_file', tool_input: { path: 'src/b.ts', content: '' } })).runs.length, 1);
    assert.equal((await h.fire('PreToolUse', { tool_name: 'edit_file', tool_input: { path: 'README.md', old: 'a', new: 'b' } })).runs.length, 0);
    assert.equal((await h.fire('PreToolUse', { tool_name: 'list_files', tool_input: { path: 'docs/guide' } })).runs.length, 1);
    const grep = await h.fire('PreToolUse', { tool_name: 'grep', tool_input: { pattern: 'TODO', path: 'docs' } });
    assert.deepEqual(grep.runs.map((r) => r.stdout.trim()).sort(), ['grep', 'read'], "Grep names Kairos's grep by its Claude Code name");
  });

  test('a malformed if is an error at the field; if on an event without a tool call is skipped with why', () => {
    assert.throws(
      () => buildRegistry([{ label: 'h.json', trusted: true, hooks: { PreToolUse: [{ hooks: [{ type: 'command', command: 'x', if: 'Bash(git' }] }] } }]),
      (e: unknown) => e instanceof HookConfigError && e.message.startsWith('h.json: hooks.PreToolUse[0].hooks[0].if: \'Bash(git\' is not a permission rule') && e.problems[0]!.path.join('/') === 'PreToolUse/0/hooks/0/if',
    );
    const reg = buildRegistry([{ label: 'h.json', trusted: true, hooks: { Stop: [{ hooks: [{ type: 'command', command: 'x', if: 'Bash(ls)' }] }] } }]);
    assert.equal(reg.hooks.length, 0);
    assert.equal(reg.skipped[0]!.where, 'hooks.Stop[0].hooks[0]');
    assert.match(reg.skipped[0]!.why, /"if" only applies to tool events .* so this Stop hook never runs/);
  });
});

describe('systemMessage', () => {
  test("each hook's systemMessage goes to onSystemMessage with the event and the hook's source", async () => {
    const p = project();
    const got: Array<[string, string, string]> = [];
    const h = hooksFor(
      p.dir,
      { PostToolUse: [{ hooks: [{ type: 'command', command: `echo '{"systemMessage": "formatted 3 files"}'` }, { type: 'command', command: 'echo plain text' }] }] },
      { onSystemMessage: (m, about) => got.push([m, about.event, about.source]) },
    );
    const out = await h.fire('PostToolUse', { tool_name: 'edit_file', tool_input: { path: 'a', old: 'x', new: 'y' }, tool_response: 'ok' });
    assert.deepEqual(out.systemMessages, ['formatted 3 files']);
    assert.deepEqual(got, [['formatted 3 files', 'PostToolUse', path.join(p.dir, 'hooks.json')]]);
  });
});

describe('FileChanged', () => {
  test("fires once for a batch; each hook gets only the files its matcher takes, in Claude Code's fields", async () => {
    const p = project();
    const envLog = path.join(p.dir, 'env.jsonl');
    const h = hooksFor(p.dir, {
      FileChanged: [
        { matcher: '.envrc|.env', hooks: [{ type: 'command', command: `(cat; echo) >> '${envLog}'` }] },
        { matcher: 'src/.*\\.ts$', hooks: [{ type: 'command', command: record(p.log) }] },
        { matcher: 'package.json', hooks: [{ type: 'command', command: 'echo never' }] },
      ],
    });
    const files = [
      { file_path: path.join(p.dir, '.env'), path: '.env', event: 'change' as const },
      { file_path: path.join(p.dir, 'src/a.ts'), path: 'src/a.ts', event: 'add' as const },
      { file_path: path.join(p.dir, 'src/b.ts'), path: 'src/b.ts', event: 'unlink' as const },
    ];
    const out = await h.fire('FileChanged', { file_path: files[0]!.file_path, event: 'change', files });
    assert.equal(out.runs.length, 2, 'the package.json hook has no file in this batch');
    const env = JSON.parse(fs.readFileSync(envLog, 'utf8')) as Record<string, unknown>;
    assert.equal(env.hook_event_name, 'FileChanged');
    assert.equal(env.file_path, path.join(p.dir, '.env'));
    assert.equal(env.event, 'change');
    assert.deepEqual((env.files as Array<{ path: string }>).map((f) => f.path), ['.env']);
    const ts = p.seen()[0]!;
    assert.equal(ts.file_path, path.join(p.dir, 'src/a.ts'));
    assert.equal(ts.event, 'add');
    assert.deepEqual((ts.files as Array<{ path: string; event: string }>).map((f) => `${f.path}:${f.event}`), ['src/a.ts:add', 'src/b.ts:unlink']);
  });
});

describe('UserPromptSubmit', () => {
  test('exit 2 and decision "block" block with their reason; plain stdout and additionalContext are context', async () => {
    const p = project();
    const h = hooksFor(p.dir, {
      UserPromptSubmit: [
        {
          hooks: [
            { type: 'command', command: `${record(p.log)}; grep -q secret '${p.log}' && { echo 'no secrets in notes' >&2; exit 2; }; echo 'branch: main'` },
            { type: 'command', command: `echo '{"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": "tests: npm test"}}'` },
          ],
        },
      ],
    });
    const ok = await h.fire('UserPromptSubmit', { prompt: 'fix the flaky test' });
    assert.equal(ok.decision, 'none');
    assert.equal(ok.additionalContext, 'branch: main\n\ntests: npm test');
    const blocked = await h.fire('UserPromptSubmit', { prompt: 'the secret is hunter2' });
    assert.equal(blocked.decision, 'block');
    assert.equal(blocked.reason, 'no secrets in notes');
    assert.deepEqual(p.seen().map((s) => [s.hook_event_name, s.prompt]), [['UserPromptSubmit', 'fix the flaky test'], ['UserPromptSubmit', 'the secret is hunter2']]);

    const json = hooksFor(p.dir, { UserPromptSubmit: [{ hooks: [{ type: 'command', command: `echo '{"decision": "block", "reason": "not during the demo"}'` }] }] });
    const j = await json.fire('UserPromptSubmit', { prompt: 'x' });
    assert.deepEqual([j.decision, j.reason], ['block', 'not during the demo']);
  });
});

describe('PermissionRequest', () => {
  test("reads Claude Code's decision.behavior: allow (with updatedInput), deny, deny with interrupt", async () => {
    const p = project();
    const answer = (o: unknown) => `${record(p.log)}; echo '${JSON.stringify({ hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: o } })}'`;
    const fire = (o: unknown) =>
      hooksFor(p.dir, { PermissionRequest: [{ matcher: 'Bash', hooks: [{ type: 'command', command: answer(o) }] }] }).fire('PermissionRequest', {
        tool_name: 'run_command',
        tool_input: { command: 'npm test' },
        permission_suggestions: [],
      });
    const allow = await fire({ behavior: 'allow', updatedInput: { command: 'npm test -- --silent' } });
    assert.equal(allow.decision, 'allow');
    assert.deepEqual(allow.updatedInput, { command: 'npm test -- --silent' });
    const deny = await fire({ behavior: 'deny', message: 'tests run in CI only' });
    assert.deepEqual([deny.decision, deny.reason, deny.stop], ['block', 'tests run in CI only', undefined]);
    const interrupt = await fire({ behavior: 'deny', message: 'stop everything', interrupt: true });
    assert.equal(interrupt.decision, 'block');
    assert.equal(interrupt.stop?.reason, 'stop everything');
    const sent = p.seen()[0]!;
    assert.equal(sent.hook_event_name, 'PermissionRequest');
    assert.equal(sent.tool_name, 'Bash');
    assert.deepEqual(sent.tool_input, { command: 'npm test' });
  });
});
